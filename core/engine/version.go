package engine

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/snapgate/snapgate/core"
)

// The engine snapgate supports (deploy/engine.sh builds these releases):
// containerd 2.x, for idmapped snapshot mounts and its runtime
// introspection; runc >= 1.3, for idmapped mounts and the fixes of the
// November 2025 runc CVEs (CVE-2025-31133, CVE-2025-52565, CVE-2025-52881).
const (
	minContainerdMajor = 2
	minRuncMajor       = 1
	minRuncMinor       = 3
	// remapCapability is the overlay snapshotter's word for idmapped lower
	// layers (the kernel supports them on its file system).
	remapCapability = "remap-ids"
)

// checkEngine fails New with what to do when the reachable containerd or
// its runc is older than supported. With userNS it also needs idmapped
// mounts from the snapshotter and from runc; without, an old engine only
// leaves a warning (the documented degraded mode, Options.HostUserNamespace).
func (e *Engine) checkEngine(ctx context.Context, userNS bool) error {
	problems := e.engineProblems(ctx, userNS)
	if len(problems) == 0 {
		return nil
	}
	msg := "the container engine is older than snapgate supports (containerd >= 2.0 with runc >= 1.3; `make run` and deploy/engine.sh provide them): " +
		strings.Join(problems, "; ")
	if !userNS {
		e.log.WarnContext(ctx, msg+"; running without user namespaces as configured")
		return nil
	}
	return core.Errorf(core.ErrUnavailable, "%s (or set SNAPGATE_SANDBOX_USERNS=off to run sandboxes without user namespaces)", msg)
}

// engineFacts is what containerd says of itself and its runtime.
type engineFacts struct {
	containerd, runc         string // versions; "" when unknown
	runcIDMap, snapshotIDMap bool   // idmapped mounts in runc, in the snapshotter
	snapshotter              string
}

func (e *Engine) engineProblems(ctx context.Context, userNS bool) []string {
	ctx = e.withNS(ctx)
	f := engineFacts{snapshotter: e.snapshotter}
	v, err := e.client.Version(ctx)
	if err != nil {
		return []string{fmt.Sprintf("containerd version: %v", err)}
	}
	f.containerd = v.Version
	// 1.x has no runtime introspection: nothing more to ask.
	if major, _, ok := parseVersion(f.containerd); ok && major >= minContainerdMajor {
		info, err := e.client.RuntimeInfo(ctx, sandboxRuntime, nil)
		if err != nil {
			return []string{fmt.Sprintf("runtime %s: %v", sandboxRuntime, err)}
		}
		if feats, ok := info.Features.(*features.Features); ok && feats != nil {
			f.runc = feats.Annotations["org.opencontainers.runc.version"]
			if l := feats.Linux; l != nil && l.MountExtensions != nil && l.MountExtensions.IDMap != nil &&
				l.MountExtensions.IDMap.Enabled != nil {
				f.runcIDMap = *l.MountExtensions.IDMap.Enabled
			}
		}
		caps, err := e.client.GetSnapshotterCapabilities(ctx, e.snapshotter)
		if err != nil {
			return []string{fmt.Sprintf("snapshotter %s: %v", e.snapshotter, err)}
		}
		f.snapshotIDMap = slices.Contains(caps, remapCapability)
	}
	return f.problems(userNS)
}

// problems names what is older than supported; with userNS, also missing
// idmapped mounts.
func (f engineFacts) problems(userNS bool) []string {
	if major, _, ok := parseVersion(f.containerd); !ok || major < minContainerdMajor {
		return []string{fmt.Sprintf("containerd is %s", f.containerd)}
	}
	var problems []string
	switch major, minor, ok := parseVersion(f.runc); {
	case !ok:
		problems = append(problems, fmt.Sprintf("the runtime reports no runc version (%q)", f.runc))
	case major < minRuncMajor || major == minRuncMajor && minor < minRuncMinor:
		problems = append(problems, "runc is "+f.runc)
	}
	if userNS && !f.runcIDMap {
		problems = append(problems, "runc has no idmapped mounts")
	}
	if userNS && !f.snapshotIDMap {
		problems = append(problems, fmt.Sprintf("snapshotter %s cannot mount layers idmapped on this kernel and file system", f.snapshotter))
	}
	return problems
}

// parseVersion reads "v2.4.2+unknown" or "1.5.3" as major and minor.
func parseVersion(v string) (major, minor int, ok bool) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	return major, minor, err1 == nil && err2 == nil
}

// startClaims opens the host's id range claims and returns those whose
// container is gone (idClaims.sweep).
func (e *Engine) startClaims(ctx context.Context, dir, address string) error {
	claims, err := newIDClaims(dir, address, e.ns)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	live := map[string]map[string]bool{} // namespace -> its containers
	err = claims.sweep(func(ns, id string) (bool, error) {
		if live[ns] == nil {
			cs, err := e.client.Containers(namespaces.WithNamespace(ctx, ns))
			if err != nil {
				return true, classify(err, "list sandboxes of namespace "+ns)
			}
			live[ns] = map[string]bool{}
			for _, c := range cs {
				live[ns][c.ID()] = true
			}
		}
		return live[ns][id], nil
	})
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	e.claims = claims
	return nil
}
