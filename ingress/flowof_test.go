package ingress

import (
	"encoding/json"
	"testing"
)

func TestFlowOf(t *testing.T) {
	for in, want := range map[string]string{
		`{"id":"01J","flow":"demo-echo","status":"canceled"}`: "demo-echo",
		`{"id":"01J","error":{"flow":"x"},"flow":"f-1"}`:      "f-1",
		`{"id":"01J","flow":"demo-echo","status":"canc`:       "demo-echo", // truncated after the flow
		`{"id":"01J","status":"canceled"}`:                    "",
		`["flow","x"]`:                                        "",
		``:                                                    "",
	} {
		if got := flowOf([]byte(in)); got != want {
			t.Errorf("flowOf(%s) = %q, want %q", in, got, want)
		}
	}
}

// flowOf never panics and agrees with encoding/json on complete objects.
func FuzzFlowOf(f *testing.F) {
	f.Add([]byte(`{"id":"01J","flow":"demo-echo"}`))
	f.Add([]byte(`{"flow":1}`))
	f.Add([]byte(`{"a":[{"flow":"x"}],"flow":"y"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got := flowOf(b)
		var v struct {
			Flow string `json:"flow"`
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) == nil && len(m) > 0 && json.Unmarshal(b, &v) == nil && got != v.Flow {
			if _, dup := m["flow"]; dup && got == "" {
				t.Fatalf("flowOf(%q) = %q, encoding/json says %q", b, got, v.Flow)
			}
		}
	})
}
