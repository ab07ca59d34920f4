package envd

import (
	"context"

	"connectrpc.com/connect"

	"github.com/snapgate/snapgate/adapters/e2b/envd/api/filesystem"
)

// CreateWatcher is filesystem.Filesystem/CreateWatcher: start a watcher
// the client polls with GetWatcherEvents.
func (r filesystemRPC) CreateWatcher(ctx context.Context, req *connect.Request[filesystem.CreateWatcherRequest]) (*connect.Response[filesystem.CreateWatcherResponse], error) {
	fs, err := r.files(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	defer fs.Close()
	m := req.Msg
	id, err := r.watchers.add(ctx, callOf(ctx).sandbox, fs, m.GetPath(), m.GetRecursive(), m.GetIncludeEntry())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&filesystem.CreateWatcherResponse{WatcherId: id}), nil
}

// GetWatcherEvents is filesystem.Filesystem/GetWatcherEvents: the events
// since the last call.
func (r filesystemRPC) GetWatcherEvents(ctx context.Context, req *connect.Request[filesystem.GetWatcherEventsRequest]) (*connect.Response[filesystem.GetWatcherEventsResponse], error) {
	events, err := r.watchers.take(callOf(ctx).sandbox, req.Msg.GetWatcherId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&filesystem.GetWatcherEventsResponse{Events: events}), nil
}

// RemoveWatcher is filesystem.Filesystem/RemoveWatcher.
func (r filesystemRPC) RemoveWatcher(ctx context.Context, req *connect.Request[filesystem.RemoveWatcherRequest]) (*connect.Response[filesystem.RemoveWatcherResponse], error) {
	if err := r.watchers.remove(callOf(ctx).sandbox, req.Msg.GetWatcherId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&filesystem.RemoveWatcherResponse{}), nil
}

// Close stops the polled watchers (at shutdown).
func (a *API) Close() { a.watchers.Close() }
