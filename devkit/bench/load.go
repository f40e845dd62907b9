package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// target is what the load generator hits: one URL, one payload, fixed
// headers (Content-Type, Authorization).
type target struct {
	url     string
	payload []byte
	header  http.Header
	// onAccepted, when set, sees every 2xx response (its body already
	// read) of worker w; used to collect job IDs. Must be cheap.
	onAccepted func(w int, resp *http.Response)
}

// loadResult is what one load run measured.
type loadResult struct {
	start, end time.Time // first request sent, last answer read
	sent       int64
	accepted   int64         // 2xx
	byStatus   map[int]int64 // non-2xx answers by status
	transport  int64         // requests without an HTTP answer
	firstError string        // one transport error, for the report
	latency    *Histogram    // of 2xx answers
	elapsed    time.Duration // end - start
	cpu        *CPUUsage     // nil when unknown
}

// rps is accepted requests per second of the run.
func (r loadResult) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.accepted) / r.elapsed.Seconds()
}

// newHTTPClient is the one client shape every phase uses: keep-alive
// connections for every worker, no compression, no proxy, generous
// timeouts that only matter when something hangs.
func newHTTPClient(concurrency int) *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          2 * concurrency,
			MaxIdleConnsPerHost:   2 * concurrency,
			IdleConnTimeout:       90 * time.Second,
			DisableCompression:    true,
			ResponseHeaderTimeout: 60 * time.Second,
		},
	}
}

// payloadOf returns n bytes of printable filler.
func payloadOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

// runLoad sends requests from concurrency workers until d has passed (a
// worker finishes the request it is in, then stops) or ctx ends. progress,
// when set, is called every interval with the counts so far.
func runLoad(ctx context.Context, client *http.Client, t target, concurrency int, d, interval time.Duration, progress func(elapsed time.Duration, accepted, failed int64)) loadResult {
	res := loadResult{byStatus: map[int]int64{}, latency: NewHistogram()}
	var (
		accepted, failed, sent, transport atomic.Int64
		mu                                sync.Mutex // byStatus, firstError
		wg                                sync.WaitGroup
	)
	cpu0 := sampleCPU()
	res.start = time.Now()
	deadline := res.start.Add(d)
	for w := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				sent.Add(1)
				status, lat, err := send(ctx, client, t, w)
				switch {
				case err != nil:
					transport.Add(1)
					failed.Add(1)
					mu.Lock()
					if res.firstError == "" {
						res.firstError = err.Error()
					}
					mu.Unlock()
					if ctx.Err() == nil {
						time.Sleep(10 * time.Millisecond) // do not spin on a dead server
					}
				case status >= 200 && status < 300:
					accepted.Add(1)
					res.latency.Record(lat)
				default:
					failed.Add(1)
					mu.Lock()
					res.byStatus[status]++
					mu.Unlock()
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(interval)
	defer tick.Stop()
loop:
	for {
		select {
		case <-done:
			break loop
		case <-tick.C:
			if progress != nil {
				progress(time.Since(res.start), accepted.Load(), failed.Load())
			}
		case <-ctx.Done(): // workers stop after their request
			<-done
			break loop
		}
	}
	res.end = time.Now()
	res.cpu = usageSince(cpu0, sampleCPU())
	res.elapsed = res.end.Sub(res.start)
	res.sent, res.accepted, res.transport = sent.Load(), accepted.Load(), transport.Load()
	return res
}

// send does one request and returns its status and latency (request
// written to body read).
func send(ctx context.Context, client *http.Client, t target, w int) (int, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(t.payload))
	if err != nil {
		return 0, 0, err
	}
	for k, v := range t.header {
		req.Header[k] = v
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	lat := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("reading answer: %w", err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 && t.onAccepted != nil {
		t.onAccepted(w, resp)
	}
	return resp.StatusCode, lat, nil
}

// statusCounts renders non-2xx counts with string keys for JSON.
func statusCounts(m map[int]int64) map[string]int64 {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[strconv.Itoa(k)] = v
	}
	return out
}
