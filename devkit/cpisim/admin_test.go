package cpisim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAdminAPI(t *testing.T) {
	t.Parallel()
	s := startSim(t, Config{}, DemoIFlows()...)
	tok := runtimeToken(t, s)
	admin := s.URL() + "/sim/v1/iflows"
	js := http.Header{"Content-Type": {"application/json"}}

	// List.
	res := do(t, nil, http.MethodGet, admin, nil, nil)
	var list struct {
		IFlows []iflowStatus `json:"iflows"`
	}
	if err := json.Unmarshal([]byte(res.body), &list); err != nil || res.status != 200 {
		t.Fatalf("list: %d %s %v", res.status, res.body, err)
	}
	if len(list.IFlows) != 3 || list.IFlows[0].ID != "Echo" || list.IFlows[1].ID != "Flaky" || list.IFlows[2].ID != "Slow" {
		t.Fatalf("list: %+v", list.IFlows)
	}
	if slow := list.IFlows[2]; slow.Faults.Latency != 500*time.Millisecond || !slow.CSRF || slow.URL != s.URL()+"/http/demo/slow" {
		t.Errorf("slow: %+v", slow)
	}
	if !strings.Contains(res.body, `"latency":"500ms"`) {
		t.Errorf("durations are not strings: %s", res.body)
	}

	for i, tc := range []struct {
		name   string
		method string
		path   string
		body   string
		status int
	}{
		{"deploy new", "PUT", "/Orders", `{"address":"/orders/*","name":"Orders"}`, 201},
		{"redeploy", "PUT", "/Orders", `{"id":"Orders","address":"/Orders/*","csrf":false}`, 200},
		{"id mismatch", "PUT", "/Orders", `{"id":"Other","address":"/x"}`, 400},
		{"unknown field", "PUT", "/X", `{"address":"/x","adress":"/y"}`, 400},
		{"bad address", "PUT", "/X", `{"address":"x*"}`, 400},
		{"address in use (case-insensitive)", "PUT", "/X", `{"address":"/DEMO/echo"}`, 409},
		{"bad JSON", "PUT", "/X", `{`, 400},
		{"faults", "PUT", "/Echo/faults", `{"latency":"20ms","error_rate":1,"error_status":500,"error_message":"boom"}`, 200},
		{"faults of unknown", "PUT", "/Nope/faults", `{}`, 404},
		{"bad latency", "PUT", "/Echo/faults", `{"latency":"soon"}`, 400},
		{"numeric latency", "PUT", "/Echo/faults", `{"latency":5}`, 400},
		{"bad rate", "PUT", "/Echo/faults", `{"error_rate":2}`, 400},
		{"get", "GET", "/Orders", ``, 200},
		{"get unknown", "GET", "/Nope", ``, 404},
		{"undeploy unknown", "DELETE", "/Nope", ``, 404},
		{"calls", "GET", "/Echo/calls", ``, 200},
	} {
		var body []byte
		if tc.body != "" {
			body = []byte(tc.body)
		}
		res := do(t, nil, tc.method, admin+tc.path, js, body)
		if res.status != tc.status {
			t.Errorf("Test %d (%s): status %d, want %d: %s", i, tc.name, res.status, tc.status, res.body)
		}
	}

	// The deployed wildcard flow answers without CSRF (redeployed with
	// csrf:false); faults changed at run time apply to the next call.
	if res := do(t, nil, http.MethodPost, s.URL()+"/http/orders/1", bearer(tok), []byte("x")); res.status != 200 || res.header.Get(simPathHeader) != "1" {
		t.Errorf("orders: %d %v", res.status, res.header)
	}
	c := csrfClient(t)
	csrf := fetchCSRF(t, c, s.EndpointURL("Echo"), tok)
	h := bearer(tok)
	h.Set("X-CSRF-Token", csrf)
	start := time.Now()
	res = do(t, c, http.MethodPost, s.EndpointURL("Echo"), h, []byte("x"))
	if res.status != 500 || !strings.HasPrefix(res.body, "An internal server error occured: boom\n") || time.Since(start) < 20*time.Millisecond {
		t.Errorf("echo after faults: %d %q", res.status, res.body)
	}
	if res := do(t, nil, http.MethodPut, admin+"/Echo/faults", js, []byte(`{"outage":true}`)); res.status != 200 {
		t.Fatalf("outage: %d", res.status)
	}
	if res := do(t, c, http.MethodPost, s.EndpointURL("Echo"), h, []byte("x")); res.status != 503 {
		t.Errorf("echo during outage: %d", res.status)
	}
	if res := do(t, nil, http.MethodPut, admin+"/Echo/faults", js, []byte(`{}`)); res.status != 200 {
		t.Fatalf("clear faults: %d", res.status)
	}
	if res := do(t, c, http.MethodPost, s.EndpointURL("Echo"), h, []byte("x")); res.status != 200 {
		t.Errorf("echo after clearing faults: %d", res.status)
	}

	// Calls over the admin API.
	res = do(t, nil, http.MethodGet, admin+"/Echo/calls", nil, nil)
	var calls struct {
		Calls []Call `json:"calls"`
	}
	if err := json.Unmarshal([]byte(res.body), &calls); err != nil || len(calls.Calls) != 3 || calls.Calls[2].Status != 200 {
		t.Errorf("calls: %s %v", res.body, err)
	}

	// Undeploy: the address answers 404, the calls stay.
	if res := do(t, nil, http.MethodDelete, admin+"/Echo", nil, nil); res.status != 204 {
		t.Fatalf("undeploy: %d", res.status)
	}
	if res := do(t, c, http.MethodPost, s.URL()+"/http/demo/echo", h, []byte("x")); res.status != 404 {
		t.Errorf("after undeploy: %d", res.status)
	}
	if s.CallCount("Echo") != 3 || s.EndpointURL("Echo") != "" {
		t.Errorf("after undeploy: %d calls, url %q", s.CallCount("Echo"), s.EndpointURL("Echo"))
	}
}

func TestAdminLoopbackOnly(t *testing.T) {
	t.Parallel()
	for i, tc := range []struct {
		remote string
		allow  bool
		status int
	}{
		{"127.0.0.1:5000", false, 200},
		{"[::1]:5000", false, 200},
		{"10.0.0.7:5000", false, 403},
		{"10.0.0.7:5000", true, 200},
	} {
		s, err := New(Config{AdminAllowRemote: tc.allow})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, "/sim/v1/iflows", nil)
		req.RemoteAddr = tc.remote
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("Test %d: %s: status %d, want %d", i, tc.remote, rec.Code, tc.status)
		}
	}
}
