package envd

import (
	"context"
	"net/http"

	"github.com/snapgate/snapgate/core"
)

// filesystemRPC serves filesystem.Filesystem (filesystemconnect's handler
// interface), one method per fs_*.go file.
type filesystemRPC struct{ *API }

// files opens the call's sandbox filesystem as the RPC's user (the Basic
// Authorization header).
func (a *API) files(ctx context.Context, h http.Header) (*core.Files, error) {
	user, err := rpcUser(h)
	if err != nil {
		return nil, err
	}
	return a.dp.Files(ctx, callOf(ctx).target, user)
}

// withFiles runs do on the call's filesystem, closed when it returns.
func withFiles[T any](ctx context.Context, a *API, h http.Header, do func(*core.Files) (*T, error)) (*T, error) {
	fs, err := a.files(ctx, h)
	if err != nil {
		return nil, err
	}
	defer fs.Close()
	return do(fs)
}
