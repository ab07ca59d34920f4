package core

import (
	"context"
	"io"
	"slices"
	"strconv"
	"strings"
)

// account is a user of a sandbox as its /etc/passwd and /etc/group say.
type account struct {
	Name     string
	UID, GID uint32
	Groups   []uint32 // supplementary groups
	Home     string
}

type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// accounts is a sandbox's user database, read once per call.
type accounts struct {
	users  []passwdEntry
	groups []groupEntry
}

// accountFileLimit bounds what is read of /etc/passwd and /etc/group.
const accountFileLimit = 4 << 20

// readAccounts reads the sandbox's /etc/passwd and /etc/group; missing or
// unreadable files count as empty (an image may have neither).
func readAccounts(ctx context.Context, s SandboxFS) accounts {
	var a accounts
	if b, err := readSmall(ctx, s, "/etc/passwd", accountFileLimit); err == nil {
		for f := range colonRecords(b, 7) {
			uid, err1 := strconv.ParseUint(f[2], 10, 32)
			gid, err2 := strconv.ParseUint(f[3], 10, 32)
			if err1 == nil && err2 == nil && f[0] != "" {
				a.users = append(a.users, passwdEntry{name: f[0], uid: uint32(uid), gid: uint32(gid), home: f[5]})
			}
		}
	}
	if b, err := readSmall(ctx, s, "/etc/group", accountFileLimit); err == nil {
		for f := range colonRecords(b, 4) {
			gid, err := strconv.ParseUint(f[2], 10, 32)
			if err != nil || f[0] == "" {
				continue
			}
			var members []string
			if f[3] != "" {
				members = strings.Split(f[3], ",")
			}
			a.groups = append(a.groups, groupEntry{name: f[0], gid: uint32(gid), members: members})
		}
	}
	return a
}

// readSmall reads at most limit bytes of a small file (passwd, group),
// through links. The sandbox may have made /etc/passwd a FIFO or a device
// node: the SandboxFS refuses those.
func readSmall(ctx context.Context, s SandboxFS, p string, limit int64) ([]byte, error) {
	f, _, err := s.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// colonRecords yields the lines of a passwd-style file that have at least
// n colon-separated fields (comments and short lines skipped).
func colonRecords(b []byte, n int) func(func([]string) bool) {
	return func(yield func([]string) bool) {
		for line := range strings.Lines(string(b)) {
			line = strings.TrimRight(line, "\r\n")
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			f := strings.Split(line, ":")
			if len(f) < n {
				continue
			}
			if !yield(f) {
				return
			}
		}
	}
}

// user resolves a requested user name: "" is DefaultUser, or root when the
// image has no such user; any other name must exist (root always does).
// ErrUnauthenticated ("invalid username"), as envd answers.
func (a accounts) user(name string) (account, error) {
	want := name
	if want == "" {
		want = DefaultUser
	}
	if u, ok := a.lookup(want); ok {
		return u, nil
	}
	if name == "" || name == "root" {
		if u, ok := a.lookup("root"); ok {
			return u, nil
		}
		return account{Name: "root", Home: "/root"}, nil
	}
	return account{}, Errorf(ErrUnauthenticated, "invalid username: '%s'", name)
}

func (a accounts) lookup(name string) (account, bool) {
	for _, e := range a.users {
		if e.name != name {
			continue
		}
		u := account{Name: e.name, UID: e.uid, GID: e.gid, Home: e.home}
		for _, g := range a.groups {
			if g.gid != e.gid && slices.Contains(g.members, e.name) && !slices.Contains(u.Groups, g.gid) {
				u.Groups = append(u.Groups, g.gid)
			}
		}
		return u, true
	}
	return account{}, false
}

// userName is uid's name, or the number when the sandbox has none.
func (a accounts) userName(uid uint32) string {
	for _, e := range a.users {
		if e.uid == uid {
			return e.name
		}
	}
	return strconv.FormatUint(uint64(uid), 10)
}

// groupName is gid's name, or the number when the sandbox has none.
func (a accounts) groupName(gid uint32) string {
	for _, g := range a.groups {
		if g.gid == gid {
			return g.name
		}
	}
	return strconv.FormatUint(uint64(gid), 10)
}
