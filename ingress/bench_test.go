package ingress_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// BenchmarkSubmit measures authenticated accepts over loopback HTTP with
// dispatching paused: JWT check, validation, two JetStream writes, 202.
func BenchmarkSubmit(b *testing.B) {
	sys := testkit.Start(b, testkit.Options{})
	sys.Broker.Dispatcher.Pause()
	tok := sys.Partner().Token
	payload := bytes.Repeat([]byte("x"), 1024)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	url := sys.BaseURL + "/v1/flows/demo-echo/jobs"
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(payload))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/octet-stream")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var sink [512]byte
			for {
				if _, err := resp.Body.Read(sink[:]); err != nil {
					break
				}
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}
