package envd

import (
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/snapgate/snapgate/adapters/e2b/envd/api/filesystem"
	"github.com/snapgate/snapgate/adapters/e2b/envd/api/filesystem/filesystemconnect"
	"github.com/snapgate/snapgate/adapters/e2b/envd/api/process"
	"github.com/snapgate/snapgate/adapters/e2b/envd/api/process/processconnect"
)

// headerTransport adds envd's routing and auth headers to every request.
type headerTransport struct{ h *harness }

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	t.h.headers(r, nil)
	return http.DefaultTransport.RoundTrip(r)
}

// The SDKs speak Connect with JSON; the generated clients speak it with
// the binary codec by default, and gRPC-web: the handlers serve them all,
// unary and streaming, errors included.
func TestGeneratedClients(t *testing.T) {
	h := newHarness(t)
	hc := &http.Client{Transport: headerTransport{h}}
	for name, opts := range map[string][]connect.ClientOption{
		"connect binary":  nil,
		"connect JSON":    {connect.WithProtoJSON()},
		"gRPC-web binary": {connect.WithGRPCWeb()},
	} {
		t.Run(name, func(t *testing.T) {
			fs := filesystemconnect.NewFilesystemClient(hc, h.srv.URL, opts...)
			st, err := fs.Stat(t.Context(), connect.NewRequest(&filesystem.StatRequest{Path: "/etc/passwd"}))
			if err != nil || st.Msg.GetEntry().GetType() != filesystem.FileType_FILE_TYPE_FILE || st.Msg.GetEntry().GetSize() == 0 {
				t.Fatalf("stat: %v %v", st, err)
			}
			_, err = fs.Stat(t.Context(), connect.NewRequest(&filesystem.StatRequest{Path: "/nope"}))
			if connect.CodeOf(err) != connect.CodeNotFound {
				t.Errorf("stat of a missing file: %v", err)
			}

			pc := processconnect.NewProcessClient(hc, h.srv.URL, opts...)
			stream, err := pc.Start(t.Context(), connect.NewRequest(&process.StartRequest{
				Process: &process.ProcessConfig{Cmd: "/bin/bash", Args: []string{"-l", "-c", "echo hi; exit 3"}},
				Stdin:   proto.Bool(false),
			}))
			if err != nil {
				t.Fatal(err)
			}
			var events []string
			var stdout string
			for stream.Receive() {
				ev := stream.Msg().GetEvent()
				switch {
				case ev.GetStart() != nil:
					events = append(events, "start")
				case ev.GetData() != nil:
					stdout += string(ev.GetData().GetStdout())
				case ev.GetEnd() != nil:
					events = append(events, "end "+ev.GetEnd().GetStatus())
				}
			}
			if err := stream.Err(); err != nil || stdout != "hi\n" || strings.Join(events, ", ") != "start, end exit status 3" {
				t.Errorf("start: events %q, stdout %q, err %v", events, stdout, err)
			}
			_, err = pc.Update(t.Context(), connect.NewRequest(&process.UpdateRequest{Process: &process.ProcessSelector{Selector: &process.ProcessSelector_Pid{Pid: 1}}}))
			if connect.CodeOf(err) != connect.CodeUnimplemented {
				t.Errorf("update: %v", err)
			}
		})
	}
}
