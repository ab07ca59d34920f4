package engine_test

import (
	"fmt"
	containerd "github.com/containerd/containerd/v2/client"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/tests/testregistry"
)

// defaultCaps are the capabilities of containerd's default spec, by
// number (linux/capability.h): what a sandbox's root may hold, at most.
var defaultCaps = map[int]string{
	0: "CHOWN", 1: "DAC_OVERRIDE", 3: "FOWNER", 4: "FSETID", 5: "KILL",
	6: "SETGID", 7: "SETUID", 8: "SETPCAP", 10: "NET_BIND_SERVICE",
	13: "NET_RAW", 18: "SYS_CHROOT", 27: "MKNOD", 29: "AUDIT_WRITE", 31: "SETFCAP",
}

// procStatus parses the "Key:\tvalue" lines of a /proc/<pid>/status.
func procStatus(t *testing.T, text string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for line := range strings.Lines(text) {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

// capSet reads a capability mask such as CapEff's hex value.
func capSet(t *testing.T, status map[string]string, key string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(status[key], 16, 64)
	if err != nil {
		t.Fatalf("%s = %q in /proc/self/status: %v", key, status[key], err)
	}
	return v
}

// extraCaps names the capabilities in set beyond containerd's default.
func extraCaps(set uint64) []string {
	var out []string
	for bit := range 64 {
		if _, ok := defaultCaps[bit]; !ok && set&(1<<bit) != 0 {
			out = append(out, fmt.Sprintf("cap %d", bit))
		}
	}
	return out
}

func TestSandboxConfinement(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.start(t, e.pullSandboxImage(t, "confine"))

	t.Run("root holds the default capabilities at most, seccomp, setuid allowed", func(t *testing.T) {
		st := procStatus(t, e.sh(t, id, "cat /proc/self/status"))
		for _, k := range []string{"CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"} {
			if extra := extraCaps(capSet(t, st, k)); len(extra) > 0 {
				t.Errorf("%s = %s holds %v beyond containerd's default set", k, st[k], extra)
			}
		}
		// CAP_SYS_ADMIN 21, NET_ADMIN 12, SYS_PTRACE 19, SYS_MODULE 16 by name,
		// so a failure reads plainly.
		for bit, name := range map[int]string{21: "SYS_ADMIN", 12: "NET_ADMIN", 19: "SYS_PTRACE", 16: "SYS_MODULE"} {
			if capSet(t, st, "CapBnd")&(1<<bit) != 0 {
				t.Errorf("CAP_%s is in the bounding set", name)
			}
		}
		// Off in a user namespace, so setuid binaries (sudo) work: they
		// reach the namespace's root and nothing more (userns_test.go).
		if st["NoNewPrivs"] != "0" {
			t.Errorf("NoNewPrivs = %q, want 0", st["NoNewPrivs"])
		}
		if st["Seccomp"] != "2" {
			t.Errorf("Seccomp = %q, want 2 (filter)", st["Seccomp"])
		}
	})

	t.Run("seccomp refuses a user namespace and mounts", func(t *testing.T) {
		for _, argv := range [][]string{
			{"/bin/busybox", "unshare", "-U", "-r", "true"},
			{"/bin/busybox", "mount", "-t", "tmpfs", "none", "/mnt"},
		} {
			code, err := e.eng.Exec(t.Context(), id, argv, nil, nil, nil, nil)
			if err != nil || code == 0 {
				t.Errorf("%q in a sandbox = %d, %v; want a failure", argv, code, err)
			}
		}
	})

	t.Run("masked and read-only kernel paths as containerd's default", func(t *testing.T) {
		ctx := e.nsCtx(t.Context())
		def, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		c, err := e.raw.LoadContainer(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		spec, err := c.Spec(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range def.Linux.MaskedPaths {
			if !slices.Contains(spec.Linux.MaskedPaths, p) {
				t.Errorf("%s is not masked: %v", p, spec.Linux.MaskedPaths)
			}
		}
		for _, p := range def.Linux.ReadonlyPaths {
			if !slices.Contains(spec.Linux.ReadonlyPaths, p) {
				t.Errorf("%s is not read-only: %v", p, spec.Linux.ReadonlyPaths)
			}
		}
		// What the kernel shows: masked paths the host has are empty inside.
		var script, want strings.Builder
		for _, p := range spec.Linux.MaskedPaths {
			if _, err := os.Stat(p); err == nil {
				fmt.Fprintf(&script, "if [ -d %[1]s ]; then ls -A %[1]s | wc -l; else wc -c < %[1]s; fi\n", p)
				fmt.Fprintf(&want, "%s 0\n", p)
			}
		}
		script.WriteString("echo x 2>/dev/null > /proc/sys/kernel/domainname && echo writable || echo ro\n")
		script.WriteString("echo h 2>/dev/null > /proc/sysrq-trigger && echo writable || echo ro\n")
		want.WriteString("/proc/sys ro\n/proc/sysrq-trigger ro\n")
		lines := strings.Fields(e.sh(t, id, script.String()))
		var got strings.Builder
		for i, line := range strings.Split(strings.TrimSpace(want.String()), "\n") {
			path, _, _ := strings.Cut(line, " ")
			if i < len(lines) {
				fmt.Fprintf(&got, "%s %s\n", path, lines[i])
			}
		}
		if got.String() != want.String() {
			t.Errorf("masked sizes and writability inside:\n%s\nwant:\n%s", got.String(), want.String())
		}
	})

	t.Run("own namespaces, the user namespace too", func(t *testing.T) {
		pid := e.taskPid(t, id)
		for _, ns := range []string{"net", "pid", "ipc", "uts", "mnt", "user"} {
			inside, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
			if err != nil {
				t.Fatal(err)
			}
			host, err := os.Readlink("/proc/self/ns/" + ns)
			if err != nil {
				t.Fatal(err)
			}
			if inside == host {
				t.Errorf("%s namespace: sandbox %s, host %s", ns, inside, host)
			}
		}
		if got := e.sh(t, id, `cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '`); got != "lo\n" {
			t.Errorf("network interfaces = %q, want only lo", got)
		}
	})

	t.Run("the image's non-root user has no capabilities", func(t *testing.T) {
		st, out, errb := e.run(t, id, core.ProcessSpec{
			Argv: []string{"/bin/sh", "-c", "id -u; touch /home/user/f; touch /root/f 2>/dev/null || echo denied; cat /proc/self/status"},
			UID:  1000, GID: 1000,
		})
		if st.Code != 0 {
			t.Fatalf("as uid 1000: exit %d, stderr %s", st.Code, errb)
		}
		first, rest, _ := strings.Cut(out, "\n")
		if first != "1000" || !strings.HasPrefix(rest, "denied\n") {
			t.Errorf("as uid 1000: %q; want uid 1000, writing its home but not /root", out)
		}
		status := procStatus(t, rest)
		for _, k := range []string{"CapEff", "CapPrm", "CapInh", "CapAmb"} {
			if v := capSet(t, status, k); v != 0 {
				t.Errorf("as uid 1000: %s = %x, want none", k, v)
			}
		}
	})
}

// The degraded mode for old engines keeps the confinement sandboxes had
// before user namespaces: the host's user namespace, no_new_privs.
func TestSandboxConfinementWithoutUserNamespace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{hostUserNS: true})
	id := e.start(t, e.pullSandboxImage(t, "confine-hostns"))
	pid := e.taskPid(t, id)
	inside, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", pid))
	if err != nil {
		t.Fatal(err)
	}
	if host, _ := os.Readlink("/proc/self/ns/user"); inside != host {
		t.Errorf("user namespace %s, want the host's %s", inside, host)
	}
	for _, uid := range []uint32{0, 1000} {
		st, out, errb := e.run(t, id, core.ProcessSpec{Argv: []string{"cat", "/proc/self/status"}, UID: uid, GID: uid})
		if st.Code != 0 {
			t.Fatalf("as uid %d: exit %d: %s", uid, st.Code, errb)
		}
		if v := procStatus(t, out)["NoNewPrivs"]; v != "1" {
			t.Errorf("as uid %d: NoNewPrivs = %q, want 1", uid, v)
		}
	}
	// So setuid binaries do not work here (TestSudoInSandbox: they do in
	// a user namespace).
	opts, err := testregistry.SudoImageOptions()
	if err != nil {
		t.Fatal(err)
	}
	sudo := e.start(t, e.pullSandboxImage(t, "confine-hostns-sudo", opts...))
	st, _, errb := e.run(t, sudo, core.ProcessSpec{Argv: []string{"sudo", "-n", "true"}, UID: 1000, GID: 1000})
	if st.Code == 0 || !strings.Contains(errb, "no new privileges") {
		t.Errorf("sudo under no_new_privs: exit %d, stderr %q; want refused", st.Code, errb)
	}
}

// taskPid is the host pid of sandbox id's init process.
func (e *env) taskPid(t *testing.T, id string) uint32 {
	t.Helper()
	return e.task(t, id).Pid()
}

// task loads sandbox id's task through the raw client.
func (e *env) task(t *testing.T, id string) containerd.Task {
	t.Helper()
	ctx := e.nsCtx(t.Context())
	c, err := e.raw.LoadContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// cgroupFile reads a cgroup v1 file of sandbox id; it skips the test when
// the host has no such file (cgroup v2, or another layout).
func (e *env) cgroupFile(t *testing.T, id, ctrl, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", ctrl, e.ns, id, file))
	if err != nil {
		t.Skipf("cgroup v1 file not readable (%v)", err)
	}
	return strings.TrimSpace(string(b))
}
