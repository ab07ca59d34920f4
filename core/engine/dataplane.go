package engine

import (
	"context"
	"io"

	"github.com/snapgate/snapgate/core"
)

// SKELETON: being written (see core/dataplane_api.go for the contract).

// StartProcess implements core.DataplaneEngine.
func (e *Engine) StartProcess(ctx context.Context, sandboxID string, spec core.ProcessSpec, stdout, stderr io.Writer) (core.RunningProcess, error) {
	return nil, core.Errorf(core.ErrUnavailable, "not implemented yet")
}

// RootFS implements core.DataplaneEngine.
func (e *Engine) RootFS(ctx context.Context, sandboxID string) (string, error) {
	return "", core.Errorf(core.ErrUnavailable, "not implemented yet")
}
