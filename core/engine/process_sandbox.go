package engine

import "sync"

// liveExecs tracks the exec processes running in each sandbox, so a
// sandbox's kill can tell them their SIGKILL comes from it: the shim
// reports both as exit 137, and a command that ran `kill -9 $$` must stay
// an exit 137 while one whose sandbox was killed must not look like one.
// The zero value is ready to use.
type liveExecs struct {
	mu sync.Mutex
	m  map[string]map[*runningProcess]struct{} // sandbox id ->
}

func (l *liveExecs) add(rp *runningProcess) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]map[*runningProcess]struct{}{}
	}
	if l.m[rp.sandbox] == nil {
		l.m[rp.sandbox] = map[*runningProcess]struct{}{}
	}
	l.m[rp.sandbox][rp] = struct{}{}
}

func (l *liveExecs) remove(rp *runningProcess) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m[rp.sandbox], rp)
	if len(l.m[rp.sandbox]) == 0 {
		delete(l.m, rp.sandbox)
	}
}

// sandboxEnding marks the sandbox's running execs as ending with it. It
// runs before the task is signalled, so every exec the kill takes down
// is marked by the time its exit is read.
func (l *liveExecs) sandboxEnding(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for rp := range l.m[id] {
		rp.sandboxEnding.Store(true)
	}
}
