package envd

import (
	"context"

	"github.com/snapgate/snapgate/adapters/e2b/envd/api/process"
	"github.com/snapgate/snapgate/core"
)

// processRPC serves process.Process (processconnect's handler interface),
// one method per process_*.go file.
type processRPC struct{ *API }

// process finds the process a selector names: by pid, or by tag among the
// running processes.
func (r processRPC) process(ctx context.Context, sel *process.ProcessSelector) (*core.Process, error) {
	t := callOf(ctx).target
	switch s := sel.GetSelector().(type) {
	case *process.ProcessSelector_Pid:
		return r.dp.Process(ctx, t, s.Pid)
	case *process.ProcessSelector_Tag:
		infos, err := r.dp.Processes(ctx, t)
		if err != nil {
			return nil, err
		}
		for _, info := range infos {
			if info.Tag == s.Tag {
				return r.dp.Process(ctx, t, info.PID)
			}
		}
		return nil, core.Errorf(core.ErrNotFound, "no running process has tag %q", s.Tag)
	}
	return nil, core.Errorf(core.ErrInvalidArgument, "process: give a pid or a tag")
}
