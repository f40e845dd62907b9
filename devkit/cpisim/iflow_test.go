package cpisim

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

func TestFaultsJSON(t *testing.T) {
	t.Parallel()
	for i, tc := range []struct {
		in   string
		want Faults
		err  bool
	}{
		{`{}`, Faults{}, false},
		{`{"latency":"500ms"}`, Faults{Latency: 500 * time.Millisecond}, false},
		{`{"latency":"1m30s","error_rate":0.25,"error_status":500,"error_message":"x","outage":true}`, Faults{Latency: 90 * time.Second, ErrorRate: 0.25, ErrorStatus: 500, ErrorMessage: "x", Outage: true}, false},
		{`{"latency":500}`, Faults{}, true},
		{`{"latency":"5 parsecs"}`, Faults{}, true},
		{`{"Latency":"1s","extra":1}`, Faults{}, true},
	} {
		var f Faults
		err := json.Unmarshal([]byte(tc.in), &f)
		if (err != nil) != tc.err {
			t.Errorf("Test %d: err %v", i, err)
			continue
		}
		if err == nil && f != tc.want {
			t.Errorf("Test %d: %+v, want %+v", i, f, tc.want)
		}
		if err != nil {
			continue
		}
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		var back Faults
		if err := json.Unmarshal(b, &back); err != nil || back != f {
			t.Errorf("Test %d: round trip %s -> %+v, %v", i, b, back, err)
		}
	}
}

func TestIFlowJSONDefaultsCSRF(t *testing.T) {
	t.Parallel()
	var f IFlow
	if err := json.Unmarshal([]byte(`{"id":"A","address":"/a"}`), &f); err != nil || !f.CSRF {
		t.Errorf("csrf default: %+v %v", f, err)
	}
	if err := json.Unmarshal([]byte(`{"id":"A","address":"/a","csrf":false}`), &f); err != nil || f.CSRF {
		t.Errorf("csrf false: %+v %v", f, err)
	}
	b, _ := json.Marshal(IFlow{ID: "A", Address: "/a", CSRF: true, Faults: Faults{Latency: time.Second}})
	var back IFlow
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, IFlow{ID: "A", Address: "/a", CSRF: true, Faults: Faults{Latency: time.Second}}) {
		t.Errorf("round trip %s: %+v %v", b, back, err)
	}
}

func TestIFlowValidate(t *testing.T) {
	t.Parallel()
	for i, tc := range []struct {
		f  IFlow
		ok bool
	}{
		{IFlow{ID: "A", Address: "/a"}, true},
		{IFlow{ID: "a.b-c_1", Address: "/$a/b~c.d-e_f/*", ResponseStatus: 204, ResponseHeaders: map[string]string{"X-A": "1"}}, true},
		{IFlow{ID: "", Address: "/a"}, false},
		{IFlow{ID: "a/b", Address: "/a"}, false},
		{IFlow{ID: "A", Address: ""}, false},
		{IFlow{ID: "A", Address: "/a", ResponseStatus: 404}, false},
		{IFlow{ID: "A", Address: "/a", MaxBodySize: -1}, false},
		{IFlow{ID: "A", Address: "/a", ResponseHeaders: map[string]string{"Bad Name": "1"}}, false},
		{IFlow{ID: "A", Address: "/a", ResponseHeaders: map[string]string{"X-A": "1\r\nX-B: 2"}}, false},
		{IFlow{ID: "A", Address: "/a", ResponseHeaders: map[string]string{"content-length": "1"}}, false},
		{IFlow{ID: "A", Address: "/a", Faults: Faults{ErrorRate: math.NaN()}}, false},
		{IFlow{ID: "A", Address: "/a", Faults: Faults{ErrorRate: -0.1}}, false},
		{IFlow{ID: "A", Address: "/a", Faults: Faults{ErrorStatus: 200}}, false},
		{IFlow{ID: "A", Address: "/a", Faults: Faults{Latency: 11 * time.Minute}}, false},
	} {
		err := tc.f.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("Test %d: Validate(%+v) = %v", i, tc.f, err)
		}
		if err != nil && !errors.Is(err, ErrInvalidIFlow) {
			t.Errorf("Test %d: %v does not wrap ErrInvalidIFlow", i, err)
		}
	}
}

func TestDeployRules(t *testing.T) {
	t.Parallel()
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Deploy(IFlow{ID: "A", Address: "/a/*"}); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		f   IFlow
		err error
	}{
		{IFlow{ID: "B", Address: "/A/*"}, ErrAddressInUse},
		{IFlow{ID: "B", Address: "/a"}, nil}, // exact and wildcard may coexist
		{IFlow{ID: "A", Address: "/b"}, nil}, // redeploy at a new address
		{IFlow{ID: "C", Address: "/a/*"}, nil},
		{IFlow{ID: "D", Address: "nope"}, ErrInvalidIFlow},
	} {
		if err := s.Deploy(tc.f); !errors.Is(err, tc.err) {
			t.Errorf("Test %d: Deploy(%+v) = %v, want %v", i, tc.f, err, tc.err)
		}
	}
	if err := s.Undeploy("Z"); !errors.Is(err, ErrUnknownIFlow) {
		t.Errorf("Undeploy unknown: %v", err)
	}
	if err := s.SetFaults("Z", Faults{}); !errors.Is(err, ErrUnknownIFlow) {
		t.Errorf("SetFaults unknown: %v", err)
	}
	if err := s.SetFaults("A", Faults{ErrorRate: 3}); !errors.Is(err, ErrInvalidIFlow) {
		t.Errorf("SetFaults invalid: %v", err)
	}
	if err := s.SetFaults("A", Faults{ErrorRate: 0.1}); err != nil {
		t.Fatal(err)
	}
	got := s.IFlows()
	if len(got) != 3 || got[0].ID != "A" || got[0].Faults.ErrorStatus != 503 || got[0].ResponseStatus != 200 || got[0].Name != "A" {
		t.Errorf("IFlows: %+v", got)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for i, tc := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{}, true},
		{Config{RuntimeClientID: "a", RuntimeClientSecret: "b", APIClientID: "c", APIClientSecret: "d"}, true},
		{Config{RuntimeClientID: "a"}, false},
		{Config{APIClientSecret: "a"}, false},
		{Config{RuntimeClientID: "a", RuntimeClientSecret: "b", APIClientID: "a", APIClientSecret: "d"}, false},
		{Config{RuntimeTokenTTL: time.Second}, false},
		{Config{APITokenTTL: -time.Hour}, false},
		{Config{MaxBodySize: -1}, false},
		{Config{SessionTTL: -1}, false},
		{Config{MaxRecordedCalls: -2}, false},
		{Config{MaxRecordedCalls: -1}, true},
		{Config{BodyReadGap: -1}, false},
	} {
		err := tc.cfg.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("Test %d: Validate = %v", i, err)
		}
		if err != nil && !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Test %d: %v does not wrap ErrInvalidConfig", i, err)
		}
		if _, err := New(tc.cfg); (err == nil) != tc.ok {
			t.Errorf("Test %d: New = %v", i, err)
		}
	}
}

func TestDemoIFlows(t *testing.T) {
	t.Parallel()
	want := map[string]string{"Echo": "/demo/echo", "Slow": "/demo/slow", "Flaky": "/demo/flaky"}
	for _, f := range DemoIFlows() {
		if want[f.ID] != f.Address || !f.CSRF || f.Validate() != nil {
			t.Errorf("demo flow %+v", f)
		}
		delete(want, f.ID)
	}
	if len(want) != 0 {
		t.Errorf("missing demo flows %v", want)
	}
}

func FuzzFaultsJSON(f *testing.F) {
	f.Add([]byte(`{"latency":"500ms","error_rate":0.5,"error_status":503}`))
	f.Add([]byte(`{"latency":"-1h","outage":true}`))
	f.Add([]byte(`{"error_message":"\u0000"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fl Faults
		if err := json.Unmarshal(b, &fl); err != nil {
			return
		}
		out, err := json.Marshal(fl)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", fl, err)
		}
		var back Faults
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("Unmarshal(%s): %v", out, err)
		}
		if back != fl && !(math.IsNaN(fl.ErrorRate)) {
			t.Fatalf("round trip %+v -> %s -> %+v", fl, out, back)
		}
		_ = fl.Validate()
	})
}
