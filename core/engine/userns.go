package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/engine/fdtree"
)

// User namespaces (userns.go): every sandbox runs in a user namespace of
// its own, whose ids 0..idRangeSize-1 are host ids base..base+idRangeSize-1
// for a base no other sandbox on the host holds. Root in a sandbox is an
// unprivileged, otherwise unused uid on the host: it owns nothing outside
// its sandbox, and another sandbox's processes and files are other ids.
//
// One range per sandbox, not per tenant: the engine does not know tenants
// (a warm sandbox is made before anyone asks for it), and per sandbox also
// keeps a tenant's own sandboxes from reaching into one another.
//
// The image's files keep their owners: the snapshotter's lower layers are
// mounted idmapped (the overlay snapshotter's uidmap/gidmap labels;
// kernel, containerd >= 2.0 and runc >= 1.2 do it), so no chowned copy of
// the image is made per start. What a sandbox writes lands in its upper
// directory with host ids; captures map them back (toSandbox), and the
// dataplane maps the other way when it writes files for the sandbox.
const (
	// idRangeSize is the ids a sandbox has: 0..65535, as on a usual host.
	idRangeSize = 1 << 16
	// firstHostID is the lowest host id a sandbox range takes: far above
	// the host's own users and the usual /etc/subuid ranges (100000+).
	firstHostID = 1 << 28
	// idRanges is how many sandbox ranges fit below 2^32-2^28 (the top of
	// the 32-bit id space is left alone; (uid_t)-1 means "no change").
	idRanges = (1<<32 - 1<<29) / idRangeSize

	// idBaseLabel on a container records its range's first host id.
	idBaseLabel = "snapgate/idmap-base"
	// DefaultIDClaimDir holds one claim file per range in use on the host,
	// shared by every snapgate process on it (whatever containerd
	// namespace), so two never hand out one range.
	DefaultIDClaimDir = "/var/lib/snapgate/idmaps"
)

// idShift is a sandbox's id range as the host sees it; the zero value is
// the host's own ids (no user namespace).
type idShift struct{ base uint32 }

func (s idShift) on() bool { return s.base != 0 }

// toHost maps an id inside the sandbox to the host's; ids outside the
// range have no host id and become the overflow id, as the kernel does.
func (s idShift) toHost(id uint32) uint32 {
	if !s.on() {
		return id
	}
	if id >= idRangeSize {
		return s.base + overflowID
	}
	return s.base + id
}

// toSandbox maps a host id to the sandbox's (overflowID when outside).
func (s idShift) toSandbox(id uint32) uint32 {
	if !s.on() {
		return id
	}
	if id < s.base || id-s.base >= idRangeSize {
		return overflowID
	}
	return id - s.base
}

// overflowID is "nobody", what the kernel shows for an unmapped id.
const overflowID = 65534

// metaToSandbox rewrites an upper directory entry's metadata as the
// sandbox saw it: owners, and file capabilities (a v3 security.capability
// xattr names the namespace's root by host id; as the sandbox's root it
// becomes a plain v2 one, which the layer carries).
func (s idShift) metaToSandbox(m *fdtree.Meta) {
	if !s.on() {
		return
	}
	m.Stat.Uid, m.Stat.Gid = s.toSandbox(m.Stat.Uid), s.toSandbox(m.Stat.Gid)
	if v, ok := m.Xattrs[capabilityXattr]; ok {
		m.Xattrs[capabilityXattr] = s.capsToSandbox(v)
	}
}

const (
	capabilityXattr = "security.capability"
	vfsCapRevision2 = 0x02000000
	vfsCapRevision3 = 0x03000000
	vfsCapRevMask   = 0xff000000
	vfsCapV2Size    = 20
	vfsCapV3Size    = 24
)

func (s idShift) capsToSandbox(v []byte) []byte {
	if len(v) != vfsCapV3Size || binary.LittleEndian.Uint32(v)&vfsCapRevMask != vfsCapRevision3 {
		return v
	}
	if binary.LittleEndian.Uint32(v[vfsCapV2Size:]) != s.base {
		return v // another namespace's root: leave it as found
	}
	out := append([]byte(nil), v[:vfsCapV2Size]...)
	magic := binary.LittleEndian.Uint32(out)&^vfsCapRevMask | vfsCapRevision2
	binary.LittleEndian.PutUint32(out, magic)
	return out
}

// shiftOf reads a container's range from its labels; none is the zero
// idShift (a sandbox made without a user namespace).
func shiftOf(labels map[string]string) idShift {
	v, err := strconv.ParseUint(labels[idBaseLabel], 10, 32)
	if err != nil || v < firstHostID {
		return idShift{}
	}
	return idShift{base: uint32(v)}
}

func (s idShift) mapping() []specs.LinuxIDMapping {
	return []specs.LinuxIDMapping{{ContainerID: 0, HostID: s.base, Size: idRangeSize}}
}

// newSnapshot makes the container's writable snapshot of img; in a range,
// labelled so the snapshotter mounts the image's layers idmapped into it
// and gives the upper directory's root to the range's root.
func (s idShift) newSnapshot(id string, img containerd.Image) containerd.NewContainerOpts {
	if !s.on() {
		return containerd.WithNewSnapshot(id, img)
	}
	return containerd.WithNewSnapshot(id, img, containerd.WithUserNSRemapperLabels(s.mapping(), s.mapping()))
}

// specOpts puts the user namespace into the runtime spec. no_new_privs is
// dropped with it: setuid binaries (sudo) then work as on the vendors'
// sandboxes, and gain nothing beyond the namespace's own root, whose
// capabilities still are the spec's bounded set under seccomp.
func (s idShift) specOpts() []oci.SpecOpts {
	if !s.on() {
		return nil
	}
	return []oci.SpecOpts{
		oci.WithUserNamespace(s.mapping(), s.mapping()),
		func(_ context.Context, _ oci.Client, _ *containers.Container, sp *specs.Spec) error {
			if sp.Process != nil {
				sp.Process.NoNewPrivileges = false
			}
			return nil
		},
	}
}

// idClaims hands out ranges: one claim file per range in dir, made with
// O_EXCL so processes sharing the host never take the same one. A claim
// records the containerd address, namespace and container it is for, so
// a process can return the claims of its own containers that are gone.
type idClaims struct {
	dir         string
	address, ns string // this engine's containerd and namespace
	who         string // "address namespace", the prefix of its claims
}

func newIDClaims(dir, address, ns string) (*idClaims, error) {
	if strings.ContainsAny(address+ns, " \n") {
		return nil, fmt.Errorf("user namespace id claims: containerd address %q or namespace %q holds a space", address, ns)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("user namespace id claims: %w", err)
	}
	return &idClaims{dir: dir, address: address, ns: ns, who: address + " " + ns}, nil
}

func (c *idClaims) path(base uint32) string {
	return filepath.Join(c.dir, strconv.FormatUint(uint64(base), 10))
}

// claim takes a free range for container id. The search starts where id
// hashes to, so claims spread and a retry for one id usually lands at once.
func (c *idClaims) claim(id string) (idShift, error) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(c.who + " " + id))
	start := h.Sum32() % idRanges
	owner := []byte(c.who + " " + id + "\n")
	for i := uint32(0); i < idRanges; i++ {
		base := firstHostID + ((start+i)%idRanges)*idRangeSize
		f, err := os.OpenFile(c.path(base), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return idShift{}, fmt.Errorf("claim a user namespace id range: %w", err)
		}
		_, err = f.Write(owner)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(c.path(base))
			return idShift{}, fmt.Errorf("claim a user namespace id range: %w", err)
		}
		return idShift{base: base}, nil
	}
	return idShift{}, core.Errorf(core.ErrResourceExhausted, "this server has no user id range left for another sandbox")
}

// release returns container id's claim on s; a claim another holds (or
// none) is left alone.
func (c *idClaims) release(s idShift, id string) {
	if c == nil || !s.on() {
		return
	}
	b, err := os.ReadFile(c.path(s.base))
	if err != nil || string(b) != c.who+" "+id+"\n" {
		return
	}
	_ = os.Remove(c.path(s.base))
}

// gone tells whether the directory of a containerd socket address is no
// more: that containerd's state went with it (a private one of a test).
func gone(address string) bool {
	_, err := os.Stat(filepath.Dir(strings.TrimPrefix(address, "unix://")))
	return errors.Is(err, os.ErrNotExist)
}

// claimGrace is how old another namespace's claim must be before a sweep
// may judge it: its engine claims a range moments before it makes the
// container, and a younger claim without one may be that moment.
const claimGrace = 10 * time.Minute

// sweep returns the claims made through this engine's containerd whose
// container is gone (a crash between claim and container, a container
// removed behind snapgate's back, a test namespace deleted whole): its
// own namespace's at once (only at New, before it claims anything),
// other namespaces' once older than claimGrace; and old claims through a
// containerd whose directory is gone. live reports whether namespace ns
// holds container id.
func (c *idClaims) sweep(live func(ns, id string) (bool, error)) error {
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("user namespace id claims: %w", err)
	}
	for _, ent := range ents {
		p := filepath.Join(c.dir, ent.Name())
		info, err := ent.Info()
		if err != nil {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		young := time.Since(info.ModTime()) < claimGrace
		if len(f) == 3 && f[0] != c.address && !young && gone(f[0]) {
			_ = os.Remove(p) // its containerd went with its directory (a test's)
			continue
		}
		if len(f) != 3 || f[0] != c.address || f[1] != c.ns && young {
			continue
		}
		ok, err := live(f[1], f[2])
		if err != nil {
			return err
		}
		if !ok {
			_ = os.Remove(p)
		}
	}
	return nil
}

// claimed tells whether the range starting at base is claimed by anyone.
func (c *idClaims) claimed(base uint32) bool {
	_, err := os.Lstat(c.path(base))
	return err == nil
}
