package envd

import (
	"github.com/gin-gonic/gin"
)

// createWatcher is filesystem.Filesystem/CreateWatcher: start a watcher
// the client polls with GetWatcherEvents.
func (a *API) createWatcher(c *gin.Context) {
	var req watchRequest
	if err := readUnary(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	fs, err := a.files(c)
	if err != nil {
		a.fail(c, err)
		return
	}
	defer fs.Close()
	id, err := a.watchers.add(ctx(c), c.GetString(sandboxKey), fs, req)
	if err != nil {
		a.fail(c, err)
		return
	}
	writeUnary(c, struct {
		WatcherID string `json:"watcherId"`
	}{id})
}

// getWatcherEvents is filesystem.Filesystem/GetWatcherEvents: the events
// since the last call.
func (a *API) getWatcherEvents(c *gin.Context) {
	var req watcherRequest
	if err := readUnary(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	events, err := a.watchers.take(c.GetString(sandboxKey), req.id())
	if err != nil {
		a.fail(c, err)
		return
	}
	writeUnary(c, struct {
		Events []filesystemEvent `json:"events,omitempty"`
	}{events})
}

// removeWatcher is filesystem.Filesystem/RemoveWatcher.
func (a *API) removeWatcher(c *gin.Context) {
	var req watcherRequest
	if err := readUnary(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	if err := a.watchers.remove(c.GetString(sandboxKey), req.id()); err != nil {
		a.fail(c, err)
		return
	}
	writeUnary(c, struct{}{})
}

// Close stops the polled watchers (at shutdown).
func (a *API) Close() { a.watchers.Close() }
