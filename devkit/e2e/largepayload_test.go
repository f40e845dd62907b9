package e2e_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/demo"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// payloadSize is the round trip's payload: 20 MiB, 80× inline_max.
const payloadSize = 20 << 20

// stream is a deterministic pseudo-random body that is never held in
// memory as a whole.
func stream(n int64) io.Reader {
	r := rand.NewChaCha8([32]byte{'c', 'p', 'i', 'b'})
	return io.LimitReader(r, n)
}

// streamingEcho is a backend that echoes a body of any size through a
// temporary file, so the backend itself holds no more than a buffer.
func streamingEcho(t *testing.T) *httptest.Server {
	dir := t.TempDir()
	var n int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		name := filepath.Join(dir, strconv.Itoa(n))
		mu.Unlock()
		f, err := os.Create(name)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		size, err := io.Copy(f, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		_, _ = io.Copy(w, f)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// heapSampler records the peak of the Go heap (objects, live and not yet
// swept) while it runs.
type heapSampler struct {
	stop chan struct{}
	done chan struct{}
	peak uint64
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if v := heapObjects(); v > h.peak {
				h.peak = v
			}
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) Stop() uint64 {
	close(h.stop)
	<-h.done
	return h.peak
}

// TestLargePayloadRoundTripBoundedMemory sends a 20 MiB payload of
// unknown length (chunked) through the whole broker to a backend and reads
// the 20 MiB answer back, measuring the process's heap meanwhile: broker
// (ingress, dispatcher, deliverer), backend and client live in this
// process; JetStream runs in a child process, as an external cluster
// would (the server caches recently used 8 MB file blocks, which is its
// memory, not the broker's). The body is never held whole: the peak heap
// growth stays below 3 × inline_max + 8 MiB, far below one copy.
func TestLargePayloadRoundTripBoundedMemory(t *testing.T) {
	backend := streamingEcho(t)
	natsURL := externalNATS(t)
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) { c.NATS.URLs = natsURL }})
	ctx := context.Background()
	if err := sys.Broker.Catalog.PutProvider(ctx, catalog.Provider{ID: "big", Type: catalog.ProviderHTTP,
		Runtime: catalog.Endpoint{URL: backend.URL}}, false); err != nil {
		t.Fatal(err)
	}
	policy := catalog.DefaultPolicy()
	policy.Timeout = catalog.Duration(2 * time.Minute)
	if err := sys.Broker.Catalog.PutFlow(ctx, catalog.Flow{ID: "big-echo", Provider: "big", URL: backend.URL + "/echo",
		Status: catalog.FlowEnabled, Policy: policy}, false); err != nil {
		t.Fatal(err)
	}
	c, _ := sys.Broker.Catalog.Client(demo.PartnerID)
	c.Grants = append(c.Grants, "big-echo")
	if err := sys.Broker.Catalog.PutClient(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	p := sys.Partner()
	// Warm up: consumers, pullers, connections and caches exist before
	// the measurement.
	var warm testkit.Job
	p.Submit("big-echo", "text/plain", []byte("warm"), nil).JSON(t, &warm)
	p.WaitJob(warm.ID, 30*time.Second)

	want := sha256.New()                             // fed while the payload is sent
	defer debug.SetGCPercent(debug.SetGCPercent(10)) // collect often: the peak then reflects what is held
	runtime.GC()
	base := heapObjects()
	sampler := startSampler()

	r := p.Do(http.MethodPost, "/v1/flows/big-echo/jobs", io.TeeReader(stream(payloadSize), want), http.Header{"Content-Type": {"application/octet-stream"}})
	if r.Status != http.StatusAccepted {
		t.Fatalf("submit: %d %s", r.Status, r.Body)
	}
	var j testkit.Job
	r.JSON(t, &j)
	done := p.WaitJob(j.ID, 2*time.Minute)
	if done.Status != "succeeded" || done.Result == nil || done.Result.Size != payloadSize {
		t.Fatalf("job %+v %+v", done, done.Result)
	}
	req, _ := http.NewRequest(http.MethodGet, sys.BaseURL+"/v1/jobs/"+j.ID+"/result", nil)
	req.Header.Set("Authorization", "Bearer "+p.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, err := io.Copy(got, resp.Body)
	resp.Body.Close()
	peak := sampler.Stop()
	if err != nil || resp.StatusCode != 200 || n != payloadSize || resp.ContentLength != payloadSize {
		t.Fatalf("result: %d, %d bytes (Content-Length %d), %v", resp.StatusCode, n, resp.ContentLength, err)
	}
	if hex.EncodeToString(got.Sum(nil)) != hex.EncodeToString(want.Sum(nil)) {
		t.Fatal("the result differs from the payload")
	}
	growth := int64(peak) - int64(base)
	inlineMax := int64(sys.Broker.Jobs.Config().InlineMax)
	t.Logf("%d MiB round trip: heap %.1f MiB before, peak %.1f MiB, growth %.1f MiB (inline_max %d KiB)",
		payloadSize>>20, float64(base)/(1<<20), float64(peak)/(1<<20), float64(growth)/(1<<20), inlineMax>>10)
	if limit := 3*inlineMax + 8<<20; growth > limit {
		t.Fatalf("peak heap growth %.1f MiB above %.1f MiB: a body is held in memory", float64(growth)/(1<<20), float64(limit)/(1<<20))
	}
	for _, name := range []string{"/request", "/result.1"} {
		if _, err := sys.Broker.Resources.Payloads.GetInfo(ctx, findObject(t, sys, j.ID, name)); err != nil {
			t.Fatalf("object %s: %v", name, err)
		}
	}
	// Objects go with their record: both expire after the retention, and
	// an object is never written after its job's last record write.
	objs, err := sys.Broker.Resources.Payloads.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := sys.Broker.Resources.Records.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if objs.TTL() != recs.TTL() || objs.TTL() != sys.Broker.Resources.Layout.Retention {
		t.Fatalf("object TTL %s, record TTL %s, retention %s", objs.TTL(), recs.TTL(), sys.Broker.Resources.Layout.Retention)
	}
}

// findObject returns the name of the job's object with the suffix.
func findObject(t *testing.T, sys *testkit.System, job, suffix string) string {
	t.Helper()
	list, err := sys.Broker.Resources.Payloads.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list {
		if len(o.Name) > len(suffix) && o.Name[len(o.Name)-len(suffix):] == suffix && o.Name[:len(job)] == job {
			return o.Name
		}
	}
	t.Fatalf("no object %s%s among %d", job, suffix, len(list))
	return ""
}
