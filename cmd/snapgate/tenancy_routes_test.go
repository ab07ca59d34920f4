package main

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/snapgate/snapgate/adapters/langsmith"
	"github.com/snapgate/snapgate/core"
)

// tenantA is what tenant A owns, as B might learn of it (ids leaked in a
// URL, names guessed): every probe of the walk names some of it.
type tenantA struct {
	snap, snapName       string // image snapshot
	capture, captureName string // snapshot captured from sandbox
	captureRef           string // the capture as E2B names it: "it/ta-cap:default"
	reg, regName         string // registry
	sandbox, token       string // E2B sandbox and its envd access token
	box, boxName         string // LangSmith box
	watcher              string // envd polled watcher in sandbox
	pid                  uint32 // running process in sandbox
}

// secrets are A's identifiers and contents no answer to B may carry unless
// B sent them in that request.
func (a tenantA) secrets() []string {
	return []string{
		a.snap, a.snapName, a.capture, a.captureName, a.captureRef, a.reg, a.regName, a.sandbox, a.token,
		a.box, a.boxName, a.watcher, "robot-a", "pw-a-secret", "content-of-a", "content-of-box-a",
	}
}

// Auth modes of a probe.
const (
	authKeyB     = iota // tenant B's API key
	authTokenB          // envd: A's sandbox id with B's sandbox's access token
	authNoToken         // envd: A's sandbox id, no token
	authOwnBoxB         // envd: B's own sandbox and token, A's ids in the body
	authAnything        // public route: B's key, nothing of A's may show
	authKeyBAsA         // B's key with X-Tenant-Id naming A's tenant
)

// tenancyProbe is one request B makes and what it must get.
type tenancyProbe struct {
	method, path, body string
	ctype              string
	auth               int
	want               []int // accepted statuses
	// list: a 200 listing that must hold nothing of A's.
	list bool
}

// sent is what B sent: path, body and, to envd, the sandbox id header.
func (p tenancyProbe) sent(a tenantA) string {
	s := p.path + "\n" + p.body
	if u, err := url.PathUnescape(p.path); err == nil {
		s += "\n" + u
	}
	if p.auth == authTokenB || p.auth == authNoToken {
		s += "\n" + a.sandbox
	}
	return s
}

func (p tenancyProbe) wants(code int) bool {
	for _, w := range p.want {
		if w == code {
			return true
		}
	}
	return false
}

// probeTable maps a route ("METHOD /gin/path") to its probes.
type probeTable map[string][]tenancyProbe

func (t probeTable) add(route string, ps ...tenancyProbe) { t[route] = append(t[route], ps...) }

var notFound = []int{http.StatusNotFound}

func getProbe(path string) tenancyProbe {
	return tenancyProbe{method: "GET", path: path, want: notFound}
}

func jsonProbe(method, path, body string, want []int) tenancyProbe {
	return tenancyProbe{method: method, path: path, body: body, ctype: "application/json", want: want}
}

func deleteProbe(path string) tenancyProbe {
	return tenancyProbe{method: "DELETE", path: path, want: notFound}
}

// listProbe is a listing that must answer 200 with nothing of A's.
func listProbe(path string) tenancyProbe {
	return tenancyProbe{method: "GET", path: path, want: []int{http.StatusOK}, list: true}
}

// tenancyTable maps every served route to the probes B makes of it with
// A's ids and names. A route the router serves without an entry fails the
// test: tenancy must be decided for each new route.
func tenancyTable(a tenantA, b tenantB) probeTable {
	t := probeTable{}
	// Public probes: B's key changes nothing, and A's names must not show.
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		t.add("GET "+p, tenancyProbe{method: "GET", path: p, auth: authAnything, want: []int{http.StatusOK}})
	}
	for _, pre := range langsmith.Prefixes {
		langsmithProbes(t, pre, a, b)
	}
	dataplaneProbes(t, a)
	e2bProbes(t, a)
	unservedProbes(t, a)
	envdTable(t, a, b)
	return t
}

// langsmithProbes adds the probes of LangSmith's control plane under pre.
func langsmithProbes(t probeTable, pre string, a tenantA, b tenantB) {
	nf := notFound
	// B's own build naming A's registry: refused, nothing made.
	t.add("POST "+pre+"/snapshots", jsonProbe("POST", pre+"/snapshots",
		`{"name":"tb-from-a-reg","docker_image":"`+b.image+`","fs_capacity_bytes":1073741824,"registry_id":"`+a.reg+`"}`,
		[]int{http.StatusUnprocessableEntity, http.StatusNotFound}))
	t.add("GET "+pre+"/snapshots", listProbe(pre+"/snapshots"), listProbe(pre+"/snapshots?name_contains=ta-"))
	// B's own registry: its namespace is its own (201, then 409 for the
	// next prefixes' repeats).
	t.add("POST "+pre+"/registries", jsonProbe("POST", pre+"/registries",
		`{"name":"tb-reg","url":"registry.example.com","username":"u","password":"p"}`,
		[]int{http.StatusCreated, http.StatusConflict}))
	t.add("GET "+pre+"/registries", listProbe(pre+"/registries"), listProbe(pre+"/registries?name_contains=ta-"))
	t.add("POST "+pre+"/boxes",
		jsonProbe("POST", pre+"/boxes", `{"snapshot_id":"`+a.snap+`","wait_for_ready":true}`, nf),
		jsonProbe("POST", pre+"/boxes", `{"snapshot_id":"`+a.capture+`","wait_for_ready":true}`, nf),
		jsonProbe("POST", pre+"/boxes", `{"snapshot_name":"`+a.snapName+`","wait_for_ready":true}`, nf),
		jsonProbe("POST", pre+"/boxes", `{"snapshot_name":"`+a.captureName+`","name":"tb-box","wait_for_ready":true}`, nf))
	t.add("GET "+pre+"/boxes", listProbe(pre+"/boxes"), listProbe(pre+"/boxes?name_contains=ta-"))
	for _, ref := range []string{a.snap, a.snapName, a.capture, a.captureName, a.captureRef, a.snap + ":latest"} {
		r := pre + "/snapshots/" + url.PathEscape(ref)
		t.add("GET "+pre+"/snapshots/:snapshot_ref", getProbe(r),
			// Claiming A's tenant with B's key is refused outright.
			tenancyProbe{method: "GET", path: r, auth: authKeyBAsA, want: []int{http.StatusForbidden}})
		t.add("DELETE "+pre+"/snapshots/:snapshot_ref", deleteProbe(r))
	}
	for _, ref := range []string{a.reg, a.regName} {
		r := pre + "/registries/" + ref
		t.add("GET "+pre+"/registries/:registry_name", getProbe(r))
		t.add("PATCH "+pre+"/registries/:registry_name", jsonProbe("PATCH", r, `{"password":"hijacked","username":"b"}`, nf))
		t.add("DELETE "+pre+"/registries/:registry_name", deleteProbe(r))
	}
	for _, ref := range []string{a.box, a.boxName, a.sandbox} {
		r := pre + "/boxes/" + ref
		t.add("GET "+pre+"/boxes/:box_name", getProbe(r))
		t.add("PATCH "+pre+"/boxes/:box_name", jsonProbe("PATCH", r, `{"labels":{"owner":"b"}}`, nf))
		t.add("DELETE "+pre+"/boxes/:box_name", deleteProbe(r))
		t.add("GET "+pre+"/boxes/:box_name/status", getProbe(r+"/status"))
		t.add("POST "+pre+"/boxes/:box_name/start", jsonProbe("POST", r+"/start", `{}`, nf))
		t.add("POST "+pre+"/boxes/:box_name/stop", jsonProbe("POST", r+"/stop", `{}`, nf))
		t.add("POST "+pre+"/boxes/:box_name/snapshot", jsonProbe("POST", r+"/snapshot", `{"name":"tb-cap"}`, nf))
		t.add("POST "+pre+"/boxes/:box_name/service-url", jsonProbe("POST", r+"/service-url", `{"port":8080}`, nf))
		t.add("GET "+pre+"/boxes/:box_name/service-urls", getProbe(r+"/service-urls"))
		t.add("DELETE "+pre+"/boxes/:box_name/service-urls", deleteProbe(r+"/service-urls"), deleteProbe(r+"/service-urls?port=8080"))
	}
}

// dataplaneProbes adds LangSmith's dataplane: B's key on A's box, by id
// and by name (and A's E2B sandbox: the same kind of thing).
func dataplaneProbes(t probeTable, a tenantA) {
	nf := notFound
	for _, ref := range []string{a.box, a.boxName, a.sandbox} {
		dp := "/dataplane/" + ref
		t.add("POST /dataplane/:box/execute", jsonProbe("POST", dp+"/execute", `{"command":"echo pwned > /tmp/b.txt"}`, nf))
		t.add("GET /dataplane/:box/execute/ws", getProbe(dp+"/execute/ws"))
		t.add("POST /dataplane/:box/upload", tenancyProbe{method: "POST", path: dp + "/upload?path=/tmp/b.txt", body: "pwned", ctype: "application/octet-stream", want: nf})
		t.add("GET /dataplane/:box/download", getProbe(dp+"/download?path=/tmp/b.txt"))
		t.add("HEAD /dataplane/:box/download", tenancyProbe{method: "HEAD", path: dp + "/download?path=/tmp/b.txt", want: nf})
		t.add("POST /dataplane/:box/glob", jsonProbe("POST", dp+"/glob", `{"pattern":"*","path":"/tmp"}`, nf))
		t.add("POST /dataplane/:box/grep", jsonProbe("POST", dp+"/grep", `{"pattern":"content","path":"/tmp"}`, nf))
		t.add("GET /dataplane/:box/tunnel", getProbe(dp+"/tunnel"))
	}
	// The service proxy takes a service token, not a key: B's key on A's
	// box, with no token or a forged one, is refused before the box is
	// looked up (so the answer tells nothing of it).
	forbidden := []int{http.StatusForbidden}
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		for _, ref := range []string{a.box, a.sandbox} {
			svc := "/service/" + ref + "/8080/"
			t.add(m+" /service/:box/:port/*path",
				tenancyProbe{method: m, path: svc, want: forbidden},
				tenancyProbe{method: m, path: svc + "?langsmith_service_token=forged", want: forbidden})
		}
	}
}

// e2bProbes adds E2B's platform API.
func e2bProbes(t probeTable, a tenantA) {
	nf := notFound
	for _, tpl := range []string{a.snap, a.snapName, a.capture, a.captureName, a.captureRef, a.snap + ":default"} {
		body := `{"templateID":"` + tpl + `","timeout":60}`
		t.add("POST /sandboxes", jsonProbe("POST", "/sandboxes", body, nf))
		t.add("POST /v2/sandboxes", jsonProbe("POST", "/v2/sandboxes", body, nf))
		t.add("DELETE /templates/:templateID", deleteProbe("/templates/"+url.PathEscape(tpl)))
	}
	t.add("GET /v2/sandboxes", listProbe("/v2/sandboxes"), listProbe("/v2/sandboxes?metadata="+url.QueryEscape("owner=tenant-a")),
		listProbe("/v2/sandboxes?state=running&state=paused"))
	t.add("GET /snapshots", listProbe("/snapshots"), listProbe("/snapshots?sandboxID="+a.sandbox),
		listProbe("/snapshots?name="+a.capture), listProbe("/snapshots?name="+url.QueryEscape(a.captureRef)))
	for _, id := range []string{a.sandbox, a.box} {
		s := "/sandboxes/" + id
		t.add("GET /sandboxes/:sandboxID", getProbe(s))
		t.add("DELETE /sandboxes/:sandboxID", deleteProbe(s))
		t.add("POST /sandboxes/:sandboxID/connect", jsonProbe("POST", s+"/connect", `{"timeout":3600}`, nf))
		t.add("POST /v2/sandboxes/:sandboxID/connect", jsonProbe("POST", "/v2"+s+"/connect", `{"timeout":3600}`, nf))
		t.add("POST /sandboxes/:sandboxID/timeout", jsonProbe("POST", s+"/timeout", `{"timeout":1}`, nf))
		t.add("POST /sandboxes/:sandboxID/pause", jsonProbe("POST", s+"/pause", ``, nf))
		t.add("POST /sandboxes/:sandboxID/resume", jsonProbe("POST", s+"/resume", `{"timeout":3600}`, nf))
		t.add("POST /sandboxes/:sandboxID/snapshots", jsonProbe("POST", s+"/snapshots", `{"name":"tb-cap"}`, nf))
	}
}

// unservedProbes adds the routes the vendors' SDKs call that snapgate does
// not serve yet: on A's sandbox or box they are 404 as every other route
// (not 501: that would tell B it exists); naming no sandbox they are 501,
// naming the operation and nothing of A's.
func unservedProbes(t probeTable, a tenantA) {
	nf, ns := notFound, []int{http.StatusNotImplemented}
	for _, id := range []string{a.sandbox, a.box} {
		s := "/sandboxes/" + id
		t.add("GET /sandboxes/:sandboxID/metrics", getProbe(s+"/metrics"))
		t.add("POST /sandboxes/:sandboxID/fork", jsonProbe("POST", s+"/fork", `{}`, nf))
		t.add("PUT /sandboxes/:sandboxID/network", jsonProbe("PUT", s+"/network", `{}`, nf))
	}
	tpl := url.PathEscape(a.captureRef)
	for route, path := range map[string]string{
		"POST /v3/templates":                                "/v3/templates",
		"POST /v2/templates/:templateID/builds/:buildID":    "/v2/templates/" + tpl + "/builds/" + a.capture,
		"GET /templates/:templateID/builds/:buildID/status": "/templates/" + tpl + "/builds/" + a.capture + "/status",
		"GET /templates/:templateID/files/:hash":            "/templates/" + tpl + "/files/" + a.capture,
		"GET /templates/:templateID/tags":                   "/templates/" + tpl + "/tags",
		"POST /templates/tags":                              "/templates/tags",
		"DELETE /templates/tags":                            "/templates/tags",
		"GET /templates/aliases/:alias":                     "/templates/aliases/" + a.snapName,
		"GET /secrets":                                      "/secrets",
		"POST /secrets":                                     "/secrets",
		"GET /secrets/:secretID":                            "/secrets/" + a.reg,
		"POST /secrets/:secretID":                           "/secrets/" + a.reg,
		"DELETE /secrets/:secretID":                         "/secrets/" + a.reg,
		"GET /volumes":                                      "/volumes",
		"POST /volumes":                                     "/volumes",
		"GET /volumes/:volumeID":                            "/volumes/" + a.snap,
		"DELETE /volumes/:volumeID":                         "/volumes/" + a.snap,
		"GET /volumecontent/:volumeID/dir":                  "/volumecontent/" + a.snap + "/dir?path=/",
		"POST /volumecontent/:volumeID/dir":                 "/volumecontent/" + a.snap + "/dir?path=/x",
		"GET /volumecontent/:volumeID/file":                 "/volumecontent/" + a.snap + "/file?path=/x",
		"PUT /volumecontent/:volumeID/file":                 "/volumecontent/" + a.snap + "/file?path=/x",
		"GET /volumecontent/:volumeID/path":                 "/volumecontent/" + a.snap + "/path?path=/x",
		"PATCH /volumecontent/:volumeID/path":               "/volumecontent/" + a.snap + "/path?path=/x",
		"DELETE /volumecontent/:volumeID/path":              "/volumecontent/" + a.snap + "/path?path=/x",
	} {
		method, _, _ := strings.Cut(route, " ")
		t.add(route, jsonProbe(method, path, `{}`, ns))
	}
	for _, pre := range langsmith.Prefixes {
		for _, ref := range []string{a.box, a.boxName, a.sandbox} {
			r := pre + "/boxes/" + ref
			t.add("POST "+pre+"/boxes/:box_name/download-url", jsonProbe("POST", r+"/download-url", `{"path":"/tmp/a.txt"}`, nf))
		}
		for _, ref := range []string{a.snapName, a.captureName} {
			t.add("GET "+pre+"/snapshots-by-name/:snapshot_name",
				tenancyProbe{method: "GET", path: pre + "/snapshots-by-name/" + ref, want: ns})
		}
	}
}

// envdTable adds the probes of E2B's envd: its credential is the
// sandbox's access token, so B uses its own sandbox's token on A's
// sandbox (401), no token at all (401), and its own sandbox with A's ids.
func envdTable(t probeTable, a tenantA, b tenantB) {
	// Streams included: envd refuses a token before any protocol.
	unauth := func(method, path, ctype, body string) []tenancyProbe {
		var out []tenancyProbe
		for _, auth := range []int{authTokenB, authNoToken} {
			out = append(out, tenancyProbe{method: method, path: path, ctype: ctype, body: body, auth: auth, want: []int{http.StatusUnauthorized}})
		}
		return out
	}
	// /health is open to all, as envd's is: it tells only whether the
	// sandbox runs (204, empty body).
	t["GET /health"] = []tenancyProbe{
		{method: "GET", path: "/health", auth: authTokenB, want: []int{http.StatusNoContent}},
		{method: "GET", path: "/health", auth: authNoToken, want: []int{http.StatusNoContent}},
	}
	// Signed URLs: a forged signature, and one B signed with its own
	// sandbox's token, are refused on A's sandbox.
	signed := func(op string) string {
		return "/files?path=/tmp/a.txt&signature=" + url.QueryEscape(bSignature(op, b)) + "&signature_expiration=9999999999"
	}
	t["GET /files"] = append(unauth("GET", "/files?path=/tmp/a.txt", "", ""),
		tenancyProbe{method: "GET", path: "/files?path=/tmp/a.txt&signature=v1_forged&signature_expiration=9999999999", auth: authNoToken, want: []int{http.StatusUnauthorized}},
		tenancyProbe{method: "GET", path: signed("read"), auth: authNoToken, want: []int{http.StatusUnauthorized}})
	t["POST /files"] = append(unauth("POST", "/files?path=/tmp/a.txt", "application/octet-stream", "pwned"),
		tenancyProbe{method: "POST", path: signed("write"), ctype: "application/octet-stream", body: "pwned", auth: authNoToken, want: []int{http.StatusUnauthorized}})
	streams := map[string]string{
		"/process.Process/Start":          `{"process":{"cmd":"/bin/sh","args":["-c","echo pwned > /tmp/a.txt"]}}`,
		"/process.Process/Connect":        `{"process":{"pid":` + pidString(a.pid) + `}}`,
		"/filesystem.Filesystem/WatchDir": `{"path":"/tmp"}`,
	}
	for path, msg := range streams {
		t["POST "+path] = unauth("POST", path, "application/connect+json", string(connectEnvelope(msg)))
	}
	unary := map[string]string{
		"/process.Process/List":                   `{}`,
		"/process.Process/SendInput":              `{"process":{"pid":` + pidString(a.pid) + `},"input":{"stdin":"cHduZWQ="}}`,
		"/process.Process/SendSignal":             `{"process":{"pid":` + pidString(a.pid) + `},"signal":"SIGNAL_SIGKILL"}`,
		"/process.Process/CloseStdin":             `{"process":{"pid":` + pidString(a.pid) + `}}`,
		"/process.Process/Update":                 `{"process":{"pid":` + pidString(a.pid) + `}}`,
		"/filesystem.Filesystem/Stat":             `{"path":"/tmp/a.txt"}`,
		"/filesystem.Filesystem/ListDir":          `{"path":"/tmp"}`,
		"/filesystem.Filesystem/MakeDir":          `{"path":"/tmp/pwned"}`,
		"/filesystem.Filesystem/Move":             `{"source":"/tmp/a.txt","destination":"/tmp/moved"}`,
		"/filesystem.Filesystem/Remove":           `{"path":"/tmp/a.txt"}`,
		"/filesystem.Filesystem/CreateWatcher":    `{"path":"/tmp"}`,
		"/filesystem.Filesystem/GetWatcherEvents": `{"watcherId":"` + a.watcher + `"}`,
		"/filesystem.Filesystem/RemoveWatcher":    `{"watcherId":"` + a.watcher + `"}`,
	}
	for path, msg := range unary {
		t["POST "+path] = unauth("POST", path, "application/json", msg)
	}
	// With B's own sandbox and token, A's watcher and process name nothing:
	// both are kept per sandbox.
	for path, msg := range map[string]string{
		"/filesystem.Filesystem/GetWatcherEvents": `{"watcherId":"` + a.watcher + `"}`,
		"/filesystem.Filesystem/RemoveWatcher":    `{"watcherId":"` + a.watcher + `"}`,
		"/process.Process/SendSignal":             `{"process":{"pid":` + pidString(a.pid) + `},"signal":"SIGNAL_SIGKILL"}`,
	} {
		t["POST "+path] = append(t["POST "+path], tenancyProbe{method: "POST", path: path, ctype: "application/json",
			body: msg, auth: authOwnBoxB, want: []int{http.StatusNotFound}})
	}
}

// bSignature is B's signature, made with its sandbox's token, of a
// signed-URL operation on A's file.
func bSignature(op string, b tenantB) string {
	return core.SignFile(core.FileSignature{Path: "/tmp/a.txt", Operation: op, Expires: 9999999999}, b.token)
}

// connectEnvelope frames one Connect streaming message (no flags).
func connectEnvelope(msg string) []byte {
	n := len(msg)
	return append([]byte{0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, msg...)
}

func pidString(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
