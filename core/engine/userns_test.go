package engine_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/tests/testregistry"
)

// uidBase reads the host uid that is root in sandbox id, from inside.
func (e *env) uidBase(t *testing.T, id string) uint32 {
	t.Helper()
	f := strings.Fields(e.sh(t, id, "cat /proc/self/uid_map"))
	if len(f) != 3 || f[0] != "0" || f[2] != "65536" {
		t.Fatalf("uid_map inside = %q, want one range of 65536 ids from 0", f)
	}
	base, err := strconv.ParseUint(f[1], 10, 32)
	if err != nil || base == 0 {
		t.Fatalf("uid_map inside = %q: root is host root", f)
	}
	if g := strings.Fields(e.sh(t, id, "cat /proc/self/gid_map")); strings.Join(g, " ") != strings.Join(f, " ") {
		t.Errorf("gid_map %q differs from uid_map %q", g, f)
	}
	return uint32(base)
}

// hostPath is a path of sandbox id's root as the host reaches it.
func (e *env) hostPath(t *testing.T, id, p string) string {
	return fmt.Sprintf("/proc/%d/root%s", e.taskPid(t, id), p)
}

func hostOwner(t *testing.T, p string) (uint32, uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Uid, st.Gid
}

func TestSandboxUserNamespace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	img := e.pullSandboxImage(t, "userns")
	a, b := e.start(t, img), e.start(t, img)
	baseA, baseB := e.uidBase(t, a), e.uidBase(t, b)

	t.Run("each sandbox has a range of its own, far from the host's users", func(t *testing.T) {
		if baseA == baseB {
			t.Errorf("two sandboxes share host uids from %d", baseA)
		}
		for _, base := range []uint32{baseA, baseB} {
			if base < 1<<20 {
				t.Errorf("range starts at host uid %d, among the host's own users", base)
			}
		}
	})

	t.Run("the image's files keep their owners inside", func(t *testing.T) {
		if got := e.sh(t, a, "stat -c '%u:%g %a' /bin/busybox /root /home/user"); got != "0:0 755\n0:0 700\n1000:1000 755\n" {
			t.Errorf("owners inside = %q", got)
		}
	})

	t.Run("what the sandbox makes is owned by its range on the host", func(t *testing.T) {
		e.sh(t, a, "echo r > /root/made-by-root; echo u > /tmp/made-by-user; chown 1000:1000 /tmp/made-by-user")
		if uid, gid := hostOwner(t, e.hostPath(t, a, "/root/made-by-root")); uid != baseA || gid != baseA {
			t.Errorf("root's file on the host: %d:%d, want %d:%d", uid, gid, baseA, baseA)
		}
		if uid, _ := hostOwner(t, e.hostPath(t, a, "/tmp/made-by-user")); uid != baseA+1000 {
			t.Errorf("user's file on the host: uid %d, want %d", uid, baseA+1000)
		}
	})

	t.Run("root inside cannot touch the host's files", func(t *testing.T) {
		// A host-owned file and directory inside the sandbox's tree, as a
		// bind mount or a host-side slip would put them there.
		sentinel := e.hostPath(t, a, "/tmp/host-secret")
		if err := os.WriteFile(sentinel, []byte("host secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		dir := e.hostPath(t, a, "/tmp/host-dir")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/tmp/host-secret", "/proc/self/root/tmp/host-secret", "/proc/1/root/tmp/host-secret"} {
			script := fmt.Sprintf(`stat -c '%%u' %[1]s
cat %[1]s && echo READ
echo x >> %[1]s && echo WROTE
chown 0:0 %[1]s && echo CHOWNED
chmod 666 %[1]s && echo CHMODDED
ls /tmp/host-dir && echo LISTED
touch /tmp/host-dir/x && echo CREATED
true`, p)
			var out, errb strings.Builder
			if _, err := e.eng.Exec(t.Context(), a, []string{"/bin/sh", "-c", script}, nil, nil, &out, &errb); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != "65534\n" {
				t.Errorf("root inside on the host's file via %s: %q (stderr %s)", p, got, errb.String())
			}
		}
		if b, err := os.ReadFile(sentinel); err != nil || string(b) != "host secret\n" {
			t.Errorf("host sentinel after the attempts: %q, %v", b, err)
		}
		if uid, _ := hostOwner(t, sentinel); uid != 0 {
			t.Errorf("host sentinel is now owned by %d", uid)
		}
		// The init binary is the host's too.
		if _, err := e.eng.Exec(t.Context(), a, []string{"/bin/sh", "-c", "cp /bin/busybox /.snapgate/busybox || chmod u+s /.snapgate/busybox || exit 0; exit 1"}, nil, nil, nil, nil); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("sandboxes cannot reach one another's processes", func(t *testing.T) {
		// Another sandbox's pid is not visible (pid namespace), and its
		// host uid is not one root here can act for (user namespace).
		if got := e.sh(t, b, "ls /proc | grep -c '^[0-9]' || true"); got == "" {
			t.Fatal("no processes listed")
		}
		pidA := e.taskPid(t, a)
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pidA)); err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		_, _ = e.eng.Exec(t.Context(), b, []string{"/bin/sh", "-c", fmt.Sprintf("kill -0 %d 2>/dev/null && echo REACHED; true", pidA)}, nil, nil, &out, nil)
		if out.String() != "" {
			t.Errorf("sandbox b signalled host pid %d of sandbox a", pidA)
		}
	})
}

// Owners, setuid bits and xattrs survive a capture and a start from it:
// the layer holds the ids the sandbox saw, not its host range.
func TestCaptureKeepsOwnersInUserNamespace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	id := e.start(t, e.pullSandboxImage(t, "userns-capture"))
	e.sh(t, id, `mkdir -p /work/d && echo s > /work/suid && chown 1234:2345 /work/suid && chmod 4755 /work/suid
chown 1000:1000 /work/d && chmod 2770 /work/d && echo u > /work/d/f && chown 1000:1000 /work/d/f
ln -s suid /work/link && chown -h 1000:1000 /work/link`)
	if err := unix.Lsetxattr(e.hostPath(t, id, "/work/suid"), "user.note", []byte("kept"), 0); err != nil {
		t.Fatal(err)
	}
	name := core.ImageRefFor("userns-captured")
	if _, err := e.eng.CaptureSandbox(ctx, core.CaptureRequest{SandboxID: id, Name: name}); err != nil {
		t.Fatalf("CaptureSandbox: %v", err)
	}
	got := e.start(t, name)
	const want = "1234:2345 4755\n1000:1000 2770\n1000:1000 644\n1000:1000 777\n"
	if out := e.sh(t, got, "stat -c '%u:%g %a' /work/suid /work/d /work/d/f /work/link"); out != want {
		t.Errorf("owners and modes after capture:\n%s\nwant:\n%s", out, want)
	}
	buf := make([]byte, 16)
	n, err := unix.Lgetxattr(e.hostPath(t, got, "/work/suid"), "user.note", buf)
	if err != nil || string(buf[:n]) != "kept" {
		t.Errorf("xattr user.note after capture = %q, %v", buf[:max(n, 0)], err)
	}
	// On the host the new sandbox's files are its own range's.
	base := e.uidBase(t, got)
	if uid, gid := hostOwner(t, e.hostPath(t, got, "/work/suid")); uid != base+1234 || gid != base+2345 {
		t.Errorf("captured file on the host: %d:%d, want %d:%d", uid, gid, base+1234, base+2345)
	}
}

// sudo, setuid root in the image, works for the image's user as on E2B's
// base template: no_new_privs is off, and root is the namespace's.
func TestSudoInSandbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	opts, err := testregistry.SudoImageOptions()
	if err != nil {
		t.Fatal(err)
	}
	id := e.start(t, e.pullSandboxImage(t, "sudo", opts...))
	st, out, errb := e.run(t, id, core.ProcessSpec{
		Argv: []string{"/bin/sh", "-c", "id -u; sudo -n id -u; sudo -n sh -c 'echo root-made > /root/by-sudo; stat -c %u /root/by-sudo'"},
		UID:  1000, GID: 1000, Env: []string{"HOME=/home/user"},
	})
	if st.Code != 0 || out != "1000\n0\n0\n" {
		t.Fatalf("sudo as user: exit %d, stdout %q, stderr %s", st.Code, out, errb)
	}
	base := e.uidBase(t, id)
	if uid, _ := hostOwner(t, e.hostPath(t, id, "/root/by-sudo")); uid != base {
		t.Errorf("file made through sudo is host uid %d, want the range's root %d", uid, base)
	}
}

// Files the dataplane writes for a user have the owner the sandbox sees,
// and none is owned by host root.
func TestDataplaneWritesAsSandboxOwner(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.start(t, e.pullSandboxImage(t, "userns-dataplane"))
	dp, tg := e.dataplane(t, id)
	base := e.uidBase(t, id)
	for _, user := range []struct {
		name string
		uid  uint32
	}{{"user", 1000}, {"root", 0}} {
		f, err := dp.Files(t.Context(), tg, user.name)
		if err != nil {
			t.Fatal(err)
		}
		p := "/tmp/api-" + user.name + "/dir/file"
		info, err := f.Write(t.Context(), p, strings.NewReader("x"))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if info.Owner != user.name || info.Group != user.name && !(user.name == "root" && info.Group == "root") {
			t.Errorf("Write as %s reports owner %s:%s", user.name, info.Owner, info.Group)
		}
		if got := e.sh(t, id, "stat -c '%u:%g' "+p+" /tmp/api-"+user.name+"/dir"); got != fmt.Sprintf("%[1]d:%[1]d\n%[1]d:%[1]d\n", user.uid) {
			t.Errorf("as %s: the sandbox sees %q", user.name, got)
		}
		if uid, gid := hostOwner(t, e.hostPath(t, id, p)); uid != base+user.uid || gid != base+user.uid {
			t.Errorf("as %s: host owner %d:%d, want %d", user.name, uid, gid, base+user.uid)
		}
	}
}
