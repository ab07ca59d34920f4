package engine

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// descendants returns the host pids of every process below pid, read from
// /proc (this kernel has no /proc/<pid>/task/<tid>/children). A shell
// running `sleep 30; echo done` has sleep as a child: killing only the
// shell would leave it running in the sandbox, so a command's kill goes
// to its whole tree. Processes that already left the tree (re-parented to
// the sandbox's init) are not found; they belong to no command anymore.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(child); ok {
			children[ppid] = append(children[ppid], child)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// parentOf reads the parent pid from /proc/<pid>/stat ("pid (comm) state
// ppid ..."; comm may hold spaces and parentheses, so parse after the last
// ')').
func parentOf(pid int) (int, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(string(f[1]))
	return ppid, err == nil
}

// signalAll sends sig to each pid; processes gone meanwhile are fine.
func signalAll(pids []int, sig syscall.Signal) {
	for _, p := range pids {
		_ = syscall.Kill(p, sig)
	}
}
