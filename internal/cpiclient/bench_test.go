package cpiclient

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/cpisim"
)

// BenchmarkInvoke measures a full call against the simulator over loopback:
// cached OAuth token, CSRF session, 1 KiB JSON echoed.
func BenchmarkInvoke(b *testing.B) {
	s := startSim(b, cpisim.Config{MaxRecordedCalls: 1}, echo)
	c := newClient(b, runtimeConfig(s, true))
	body := bytes.Repeat([]byte("a"), 1024)
	req := Request{URL: s.EndpointURL("Echo"), ContentType: "application/json", Body: body, ApplicationID: "job", IdempotencyKey: "job.1", Timeout: 10 * time.Second}
	invoke(b, c, req) // token and CSRF fetch outside the timing
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Invoke(context.Background(), req)
			if err != nil || resp.StatusCode != 200 {
				b.Errorf("Invoke: %v %v", resp, err)
				return
			}
		}
	})
}
