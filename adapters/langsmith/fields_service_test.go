package langsmith

import (
	"testing"
	"time"
)

var serviceURLFields = map[string]opFields{
	"generateServiceURL": {
		"port": {honoured: "the token opens that port only", refused: "outside 1..65535: 422 naming port", check: func(t *testing.T, e *fieldEnv) {
			serveInBox(t, e.dataplaneEnv, 8000)
			serveInBox(t, e.dataplaneEnv, 9000)
			_, su := issue(t, e.dataplaneEnv, e.keyA, "dp-box", `{"port":8000}`)
			if code, _, _ := fetch(t, "GET", su.service, su.token); code != 200 {
				t.Errorf("port 8000: %d", code)
			}
			if code, _, _ := fetch(t, "GET", e.srv.URL+"/service/"+e.id+"/9000/", su.token); code != 403 {
				t.Errorf("port 9000 with 8000's token: %d, want 403", code)
			}
			for _, p := range []string{"0", "65536"} {
				wantRefused(t, e.ls(t, "POST", "/boxes/dp-box/service-url", `{"port":`+p+`}`), 422, "ValidationError", "port")
			}
		}},
		"expires_in_seconds": {honoured: "the token's lifetime (expires_at)", refused: "outside 1..86400: 422 naming it", check: func(t *testing.T, e *fieldEnv) {
			r := e.ls(t, "POST", "/boxes/dp-box/service-url", `{"port":8000,"expires_in_seconds":60}`)
			wantStatus(t, r, 200)
			exp, err := time.Parse(time.RFC3339, r.body["expires_at"].(string))
			if err != nil || !within(time.Until(exp), time.Minute) {
				t.Errorf("expires_at %v (%v), want a minute on", r.body["expires_at"], err)
			}
			for _, v := range []string{"0", "86401"} {
				wantRefused(t, e.ls(t, "POST", "/boxes/dp-box/service-url", `{"port":8000,"expires_in_seconds":`+v+`}`), 422, "ValidationError", "expires_in_seconds")
			}
		}},
		"access": {honoured: `"off": token mode`, refused: "restricted, workspace (LangSmith login): 422 naming access", check: func(t *testing.T, e *fieldEnv) {
			wantStatus(t, e.ls(t, "POST", "/boxes/dp-box/service-url", `{"port":8000,"access":"off"}`), 200)
			for _, v := range []string{"restricted", "workspace"} {
				wantRefused(t, e.ls(t, "POST", "/boxes/dp-box/service-url", `{"port":8000,"access":"`+v+`"}`), 422, "ValidationError", "access")
			}
		}},
		"embed_origins": {honoured: "[]: nothing to embed", refused: "any origin: 422 naming embed_origins", check: func(t *testing.T, e *fieldEnv) {
			wantStatus(t, e.ls(t, "POST", "/boxes/dp-box/service-url", `{"port":8000,"embed_origins":[]}`), 200)
			wantRefused(t, e.ls(t, "POST", "/boxes/dp-box/service-url", `{"port":8000,"embed_origins":["https://app.example.com"]}`), 422, "ValidationError", "embed_origins")
		}},
		"*": unknownField("POST", "/boxes/dp-box/service-url", `{"port":8000}`),
	},
	"listServiceURLs": {
		"?page_size": {honoured: "the page holds that many ports and next_cursor points past them", check: func(t *testing.T, e *fieldEnv) {
			issue(t, e.dataplaneEnv, e.keyA, "dp-box", `{"port":8000}`)
			issue(t, e.dataplaneEnv, e.keyA, "dp-box", `{"port":9000}`)
			r := e.ls(t, "GET", "/boxes/dp-box/service-urls?page_size=1", "")
			wantField(t, r, 200, "next_cursor", "1")
			if n := len(r.body["items"].([]any)); n != 1 {
				t.Errorf("%d items", n)
			}
		}},
		"?cursor": {honoured: "the page starts that many ports in", check: func(t *testing.T, e *fieldEnv) {
			issue(t, e.dataplaneEnv, e.keyA, "dp-box", `{"port":8000}`)
			issue(t, e.dataplaneEnv, e.keyA, "dp-box", `{"port":9000}`)
			r := e.ls(t, "GET", "/boxes/dp-box/service-urls?cursor=1", "")
			wantStatus(t, r, 200)
			if items := r.body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["port"] != 9000.0 {
				t.Errorf("items %v, want port 9000 alone", items)
			}
		}},
	},
	"deleteServiceURL": {
		"?port": {honoured: "only that port stops being shared (all without it)", refused: "outside 1..65535: 422", check: func(t *testing.T, e *fieldEnv) {
			issue(t, e.dataplaneEnv, e.keyA, "dp-box", `{"port":8000}`)
			issue(t, e.dataplaneEnv, e.keyA, "dp-box", `{"port":9000}`)
			wantStatus(t, e.ls(t, "DELETE", "/boxes/dp-box/service-urls?port=8000", ""), 204)
			r := e.ls(t, "GET", "/boxes/dp-box/service-urls", "")
			if items := r.body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["port"] != 9000.0 {
				t.Errorf("items %v, want port 9000 alone", items)
			}
			wantRefused(t, e.ls(t, "DELETE", "/boxes/dp-box/service-urls?port=0", ""), 422, "ValidationError", "port")
		}},
	},
	"dataplaneTunnel": {},
}
