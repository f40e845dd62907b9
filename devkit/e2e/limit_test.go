package e2e_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// max_payload holds for bodies of unknown length too, while they stream
// into the object store: 413, and nothing is left behind.
func TestStreamedPayloadLimit(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.Jobs.InlineMax = 1024
		c.IngressConfig.MaxPayload = 4096
	}})
	p := sys.Partner()
	chunked := func(n int) io.Reader { return io.MultiReader(strings.NewReader(strings.Repeat("x", n))) }
	for _, tc := range []struct {
		name   string
		body   io.Reader
		status int
	}{
		{"chunked above the limit", chunked(5000), http.StatusRequestEntityTooLarge},
		{"Content-Length above the limit", strings.NewReader(strings.Repeat("x", 5000)), http.StatusRequestEntityTooLarge},
		{"chunked at the limit", chunked(4096), http.StatusAccepted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := p.Do(http.MethodPost, "/v1/flows/demo-echo/jobs", tc.body, http.Header{"Content-Type": {"text/plain"}})
			if r.Status != tc.status {
				t.Fatalf("%d %s, want %d", r.Status, r.Body, tc.status)
			}
			if tc.status == http.StatusAccepted {
				var j testkit.Job
				r.JSON(t, &j)
				if done := p.WaitJob(j.ID, 30*time.Second); done.Status != "succeeded" || done.Result.Size != 4096 {
					t.Fatalf("job %+v", done)
				}
			}
		})
	}
	objs, err := sys.Broker.Resources.Payloads.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 { // the accepted job's request and result
		t.Fatalf("%d objects, want 2", len(objs))
	}
}
