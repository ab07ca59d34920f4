package envd

import (
	"fmt"
	"os"
	"syscall"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/snapgate/snapgate/adapters/e2b/envd/api/filesystem"
	"github.com/snapgate/snapgate/adapters/e2b/envd/api/process"
	"github.com/snapgate/snapgate/core"
)

// Core values rendered as the generated messages of specs/envd, and back.

var fileTypes = map[core.FileType]struct {
	typ  filesystem.FileType
	mode os.FileMode
}{
	core.FileTypeFile:    {filesystem.FileType_FILE_TYPE_FILE, 0},
	core.FileTypeDir:     {filesystem.FileType_FILE_TYPE_DIRECTORY, os.ModeDir},
	core.FileTypeSymlink: {filesystem.FileType_FILE_TYPE_SYMLINK, os.ModeSymlink},
}

// entryOf renders a file as EntryInfo: mode holds the permission bits
// (420 for 0644), permissions Go's FileMode string ("drwxr-xr-x").
func entryOf(fi core.FileInfo) *filesystem.EntryInfo {
	ft := fileTypes[fi.Type]
	e := &filesystem.EntryInfo{
		Name: fi.Name, Type: ft.typ, Path: fi.Path, Size: fi.Size,
		Mode: uint32(fi.Mode.Perm()), Permissions: (fi.Mode | ft.mode).String(),
		Owner: fi.Owner, Group: fi.Group,
	}
	if !fi.ModTime.IsZero() {
		e.ModifiedTime = timestamppb.New(fi.ModTime)
	}
	if fi.Type == core.FileTypeSymlink {
		e.SymlinkTarget = proto.String(fi.SymlinkTarget)
	}
	return e
}

var eventTypes = map[core.FileEventType]filesystem.EventType{
	core.FileCreated: filesystem.EventType_EVENT_TYPE_CREATE,
	core.FileWritten: filesystem.EventType_EVENT_TYPE_WRITE,
	core.FileRemoved: filesystem.EventType_EVENT_TYPE_REMOVE,
	core.FileRenamed: filesystem.EventType_EVENT_TYPE_RENAME,
	core.FileChmod:   filesystem.EventType_EVENT_TYPE_CHMOD,
}

func eventOf(ev core.FileEvent, withEntry bool) *filesystem.FilesystemEvent {
	out := &filesystem.FilesystemEvent{Name: ev.Name, Type: eventTypes[ev.Type]}
	if withEntry && ev.Entry != nil {
		out.Entry = entryOf(*ev.Entry)
	}
	return out
}

// endOf renders how a process ended as envd does (Go's os.ProcessState
// wording: "exit status 3", "signal: killed").
func endOf(info core.ProcessInfo) *process.ProcessEvent_EndEvent {
	if sig := info.Status.Signal; sig != 0 {
		status := "signal: " + sig.String()
		return &process.ProcessEvent_EndEvent{ExitCode: -1, Status: status, Error: proto.String(status)}
	}
	e := &process.ProcessEvent_EndEvent{ExitCode: int32(info.Status.Code), Exited: true, Status: fmt.Sprintf("exit status %d", info.Status.Code)}
	if info.Status.Code != 0 {
		e.Error = proto.String(e.Status)
	}
	return e
}

func processInfoOf(p core.ProcessInfo) *process.ProcessInfo {
	cfg := &process.ProcessConfig{Envs: p.Env}
	if len(p.Argv) > 0 {
		cfg.Cmd, cfg.Args = p.Argv[0], p.Argv[1:]
	}
	if p.Cwd != "" {
		cfg.Cwd = proto.String(p.Cwd)
	}
	info := &process.ProcessInfo{Config: cfg, Pid: p.PID}
	if p.Tag != "" {
		info.Tag = proto.String(p.Tag)
	}
	return info
}

// syscallSignal is the signal to send; only SIGTERM and SIGKILL exist.
func syscallSignal(s process.Signal) (syscall.Signal, error) {
	switch s {
	case process.Signal_SIGNAL_SIGKILL:
		return syscall.SIGKILL, nil
	case process.Signal_SIGNAL_SIGTERM:
		return syscall.SIGTERM, nil
	}
	return 0, core.Errorf(core.ErrInvalidArgument, "signal must be SIGNAL_SIGTERM or SIGNAL_SIGKILL")
}
