package envd

import (
	"fmt"
	"os"
	"syscall"

	"github.com/snapgate/snapgate/core"
)

// Messages of process.proto and filesystem.proto in their proto3 JSON form
// (field names and numbers: /work/shared/contracts/envd.md §4). Pointers mark
// fields whose presence matters (proto3 optional, message fields, oneofs).

// --- process.Process ---

type processConfig struct {
	Cmd  string            `json:"cmd"`
	Args []string          `json:"args,omitempty"`
	Envs map[string]string `json:"envs,omitempty"`
	Cwd  *string           `json:"cwd,omitempty"`
}

type startRequest struct {
	Process *processConfig `json:"process"`
	PTY     *struct{}      `json:"pty"`
	Tag     *string        `json:"tag"`
	// Stdin absent means a pipe (envd before the field existed).
	Stdin *bool `json:"stdin"`
}

// processSelector is a oneof: pid or tag.
type processSelector struct {
	PID *u32    `json:"pid"`
	Tag *string `json:"tag"`
}

// selectorRequest is ConnectRequest, CloseStdinRequest and UpdateRequest
// (whose pty is ignored: PTYs are not served).
type selectorRequest struct {
	Process *processSelector `json:"process"`
}

type sendInputRequest struct {
	Process *processSelector `json:"process"`
	Input   *struct {
		Stdin *b64 `json:"stdin"`
		PTY   *b64 `json:"pty"`
	} `json:"input"`
}

type sendSignalRequest struct {
	Process *processSelector `json:"process"`
	Signal  signal           `json:"signal"`
}

// signal is process.Signal.
type signal int32

var signalNames = map[string]int32{"SIGNAL_UNSPECIFIED": 0, "SIGNAL_SIGTERM": 15, "SIGNAL_SIGKILL": 9}

func (s *signal) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	n, err := enumValue(b, signalNames)
	*s = signal(n)
	return err
}

// syscallSignal is the signal to send; only SIGTERM and SIGKILL exist.
func (s signal) syscallSignal() (syscall.Signal, error) {
	switch s {
	case 9:
		return syscall.SIGKILL, nil
	case 15:
		return syscall.SIGTERM, nil
	}
	return 0, core.Errorf(core.ErrInvalidArgument, "signal must be SIGNAL_SIGTERM or SIGNAL_SIGKILL")
}

type processInfo struct {
	Config processConfig `json:"config"`
	PID    uint32        `json:"pid,omitempty"`
	Tag    string        `json:"tag,omitempty"`
}

type listResponse struct {
	Processes []processInfo `json:"processes,omitempty"`
}

// processResponse is StartResponse and ConnectResponse.
type processResponse struct {
	Event processEvent `json:"event"`
}

// processEvent is a oneof: exactly one field is set.
type processEvent struct {
	Start     *startEvent `json:"start,omitempty"`
	Data      *dataEvent  `json:"data,omitempty"`
	End       *endEvent   `json:"end,omitempty"`
	Keepalive *struct{}   `json:"keepalive,omitempty"`
}

type startEvent struct {
	PID uint32 `json:"pid,omitempty"`
}

type dataEvent struct {
	Stdout []byte `json:"stdout,omitempty"`
	Stderr []byte `json:"stderr,omitempty"`
}

type endEvent struct {
	ExitCode int32  `json:"exitCode,omitempty"` // sint32
	Exited   bool   `json:"exited,omitempty"`
	Status   string `json:"status,omitempty"`
	// Error is set when the process did not exit 0; the SDK's
	// CommandExitError shows it.
	Error string `json:"error,omitempty"`
}

// endOf renders how a process ended as envd does (Go's os.ProcessState
// wording: "exit status 3", "signal: killed").
func endOf(info core.ProcessInfo) *endEvent {
	if sig := info.Status.Signal; sig != 0 {
		status := "signal: " + sig.String()
		return &endEvent{ExitCode: -1, Status: status, Error: status}
	}
	e := &endEvent{ExitCode: int32(info.Status.Code), Exited: true, Status: fmt.Sprintf("exit status %d", info.Status.Code)}
	if info.Status.Code != 0 {
		e.Error = e.Status
	}
	return e
}

func processInfoOf(p core.ProcessInfo) processInfo {
	cfg := processConfig{Envs: p.Env}
	if len(p.Argv) > 0 {
		cfg.Cmd, cfg.Args = p.Argv[0], p.Argv[1:]
	}
	if p.Cwd != "" {
		cfg.Cwd = &p.Cwd
	}
	return processInfo{Config: cfg, PID: p.PID, Tag: p.Tag}
}

// --- filesystem.Filesystem ---

// pathRequest is StatRequest, MakeDirRequest and RemoveRequest.
type pathRequest struct {
	Path string `json:"path"`
}

type listDirRequest struct {
	Path  string `json:"path"`
	Depth u32    `json:"depth"`
}

type moveRequest struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
}

// watchRequest is WatchDirRequest and CreateWatcherRequest; proto3 JSON
// parsers accept the proto (snake_case) names too.
type watchRequest struct {
	Path              string `json:"path"`
	Recursive         bool   `json:"recursive"`
	IncludeEntry      bool   `json:"includeEntry"`
	IncludeEntrySnake bool   `json:"include_entry"`
	// allowNetworkMounts is accepted and ignored: core watches every mount.
}

func (r watchRequest) includeEntry() bool { return r.IncludeEntry || r.IncludeEntrySnake }

// watcherRequest is GetWatcherEventsRequest and RemoveWatcherRequest.
type watcherRequest struct {
	WatcherID      string `json:"watcherId"`
	WatcherIDSnake string `json:"watcher_id"`
}

func (r watcherRequest) id() string {
	if r.WatcherID != "" {
		return r.WatcherID
	}
	return r.WatcherIDSnake
}

type entryInfo struct {
	Name          string  `json:"name,omitempty"`
	Type          string  `json:"type,omitempty"`
	Path          string  `json:"path,omitempty"`
	Size          i64     `json:"size,omitempty"`
	Mode          uint32  `json:"mode,omitempty"`
	Permissions   string  `json:"permissions,omitempty"`
	Owner         string  `json:"owner,omitempty"`
	Group         string  `json:"group,omitempty"`
	ModifiedTime  string  `json:"modifiedTime,omitempty"`
	SymlinkTarget *string `json:"symlinkTarget,omitempty"`
}

// entryResponse is StatResponse, MakeDirResponse and MoveResponse.
type entryResponse struct {
	Entry entryInfo `json:"entry"`
}

type listDirResponse struct {
	Entries []entryInfo `json:"entries,omitempty"`
}

var fileTypes = map[core.FileType]struct {
	name string
	mode os.FileMode
}{
	core.FileTypeFile:    {"FILE_TYPE_FILE", 0},
	core.FileTypeDir:     {"FILE_TYPE_DIRECTORY", os.ModeDir},
	core.FileTypeSymlink: {"FILE_TYPE_SYMLINK", os.ModeSymlink},
}

// entryOf renders a file as EntryInfo: mode holds the permission bits
// (420 for 0644), permissions Go's FileMode string ("drwxr-xr-x").
func entryOf(fi core.FileInfo) entryInfo {
	ft := fileTypes[fi.Type]
	mode := fi.Mode | ft.mode
	e := entryInfo{
		Name: fi.Name, Type: ft.name, Path: fi.Path, Size: i64(fi.Size),
		Mode: uint32(fi.Mode.Perm()), Permissions: mode.String(),
		Owner: fi.Owner, Group: fi.Group, ModifiedTime: timestamp(fi.ModTime),
	}
	if e.Type == "" {
		e.Type = "FILE_TYPE_UNSPECIFIED"
	}
	if fi.Type == core.FileTypeSymlink {
		e.SymlinkTarget = &fi.SymlinkTarget
	}
	return e
}

var eventTypes = map[core.FileEventType]string{
	core.FileCreated: "EVENT_TYPE_CREATE",
	core.FileWritten: "EVENT_TYPE_WRITE",
	core.FileRemoved: "EVENT_TYPE_REMOVE",
	core.FileRenamed: "EVENT_TYPE_RENAME",
	core.FileChmod:   "EVENT_TYPE_CHMOD",
}

type filesystemEvent struct {
	Name  string     `json:"name,omitempty"`
	Type  string     `json:"type,omitempty"`
	Entry *entryInfo `json:"entry,omitempty"`
}

func eventOf(ev core.FileEvent, withEntry bool) filesystemEvent {
	out := filesystemEvent{Name: ev.Name, Type: eventTypes[ev.Type]}
	if withEntry && ev.Entry != nil {
		e := entryOf(*ev.Entry)
		out.Entry = &e
	}
	return out
}

// watchResponse is WatchDirResponse, a oneof.
type watchResponse struct {
	Start      *struct{}        `json:"start,omitempty"`
	Filesystem *filesystemEvent `json:"filesystem,omitempty"`
	Keepalive  *struct{}        `json:"keepalive,omitempty"`
}
