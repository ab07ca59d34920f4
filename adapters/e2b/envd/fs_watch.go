package envd

import (
	"context"
	"errors"
	"time"

	"github.com/gin-gonic/gin"
)

// watchDir is filesystem.Filesystem/WatchDir (files.watchDir): a start
// event (the SDK waits for it), then one event per change until the
// deadline (the SDK's timeoutMs, 60 s by default), which ends the stream
// with deadline_exceeded as envd does.
func (a *API) watchDir(c *gin.Context) {
	var req watchRequest
	timeout, err := a.readStream(c, &req)
	if err != nil {
		a.fail(c, err)
		return
	}
	parent := ctx(c)
	wctx, cancel := parent, context.CancelFunc(func() {})
	if timeout > 0 {
		wctx, cancel = context.WithTimeout(parent, timeout)
	}
	defer cancel()
	fs, err := a.files(c)
	if err != nil {
		a.fail(c, err)
		return
	}
	defer fs.Close()
	events, err := fs.Watch(wctx, req.Path, req.Recursive)
	if err != nil {
		a.fail(c, err)
		return
	}
	s := newStream(c)
	if s.send(watchResponse{Start: &struct{}{}}) != nil {
		return
	}
	interval := keepaliveOf(c)
	keepalive := time.NewTimer(interval)
	defer keepalive.Stop()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				switch {
				case parent.Err() != nil: // the client left
				case errors.Is(wctx.Err(), context.DeadlineExceeded):
					s.end(a.rpcError(c, deadlineError()))
				default: // the directory went away
					s.end(connectError{})
				}
				return
			}
			fe := eventOf(ev, req.includeEntry())
			if s.send(watchResponse{Filesystem: &fe}) != nil {
				return
			}
		case <-keepalive.C:
			if s.send(watchResponse{Keepalive: &struct{}{}}) != nil {
				return
			}
		}
		keepalive.Reset(interval)
	}
}
