package envd

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"

	"github.com/snapgate/snapgate/adapters/e2b/envd/api/filesystem"
)

// WatchDir is filesystem.Filesystem/WatchDir (files.watchDir): a start
// event (the SDK waits for it), then one event per change until the
// deadline (the SDK's timeoutMs, 60 s by default), which ends the stream
// with deadline_exceeded as envd does.
func (r filesystemRPC) WatchDir(ctx context.Context, req *connect.Request[filesystem.WatchDirRequest], s *connect.ServerStream[filesystem.WatchDirResponse]) error {
	fs, err := r.files(ctx, req.Header())
	if err != nil {
		return err
	}
	defer fs.Close()
	events, err := fs.Watch(ctx, req.Msg.GetPath(), req.Msg.GetRecursive())
	if err != nil {
		return err
	}
	noBuffering(s.ResponseHeader())
	start := &filesystem.WatchDirResponse_Start{Start: &filesystem.WatchDirResponse_StartEvent{}}
	if err := s.Send(&filesystem.WatchDirResponse{Event: start}); err != nil {
		return err
	}
	interval := keepaliveOf(req.Header())
	keepalive := time.NewTimer(interval)
	defer keepalive.Stop()
	for {
		var msg filesystem.WatchDirResponse
		select {
		case ev, ok := <-events:
			if !ok {
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					return deadlineError()
				}
				// The client left (nothing to say), or the directory went away.
				return ctx.Err()
			}
			msg.Event = &filesystem.WatchDirResponse_Filesystem{Filesystem: eventOf(ev, req.Msg.GetIncludeEntry())}
		case <-keepalive.C:
			msg.Event = &filesystem.WatchDirResponse_Keepalive{Keepalive: &filesystem.WatchDirResponse_KeepAlive{}}
		}
		if err := s.Send(&msg); err != nil {
			return err
		}
		keepalive.Reset(interval)
	}
}
