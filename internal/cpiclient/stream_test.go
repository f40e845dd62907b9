package cpiclient

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/cpisim"
)

// memSpill keeps spilled bodies in memory for the test.
type memSpill struct {
	mu    sync.Mutex
	saved map[string][]byte
	fail  error
}

func (m *memSpill) spill(_ context.Context, r io.Reader) (string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	if m.fail != nil {
		return "", m.fail
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ref := "obj-" + string(rune('a'+len(m.saved)))
	m.saved[ref] = b
	return ref, nil
}

// A streamed request body is opened anew for every POST (here: the retry
// after a 401), and a long answer goes to Spill instead of memory; a
// short one stays in Body.
func TestStreamReopensBodyAndSpillsLongAnswers(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := startSim(t, cpisim.Config{Now: clock.Now, RuntimeTokenTTL: 10 * time.Minute}, echo)
	c := newClient(t, runtimeConfig(s, true))
	invoke(t, c, Request{URL: s.EndpointURL("Echo")}) // token cached
	clock.Advance(11 * time.Minute)                   // the next POST meets a 401

	long := bytes.Repeat([]byte("0123456789"), 3000) // 30000 bytes
	var opens atomic.Int32
	ms := &memSpill{saved: map[string][]byte{}}
	st := &Stream{
		Open: func() (io.ReadCloser, error) {
			opens.Add(1)
			return io.NopCloser(bytes.NewReader(long)), nil
		},
		Size: int64(len(long)), SpillAbove: 1024, Spill: ms.spill,
	}
	resp := invoke(t, c, Request{URL: s.EndpointURL("Echo"), ContentType: "text/plain", Stream: st})
	if got := statuses(s, "Echo"); !slices.Equal(got, []int{200, 401, 200}) {
		t.Fatalf("statuses %v", got)
	}
	if opens.Load() != 2 {
		t.Fatalf("body opened %d times, want 2 (one per POST)", opens.Load())
	}
	if resp.Body != nil || resp.BodyRef == "" || resp.Size != int64(len(long)) || !bytes.Equal(ms.saved[resp.BodyRef], long) {
		t.Fatalf("spilled answer: ref %q size %d body %d bytes", resp.BodyRef, resp.Size, len(resp.Body))
	}

	// At the threshold: in memory.
	short := []byte(strings.Repeat("x", 1024))
	st = &Stream{SpillAbove: 1024, Spill: ms.spill}
	resp = invoke(t, c, Request{URL: s.EndpointURL("Echo"), Body: short, Stream: st})
	if resp.BodyRef != "" || !bytes.Equal(resp.Body, short) || resp.Size != 1024 {
		t.Fatalf("short answer: ref %q body %d bytes", resp.BodyRef, len(resp.Body))
	}
}

// A spilled answer is still bounded by MaxResponseBody, and a failing
// Spill is reported as ErrSpill (not CPI's fault).
func TestSpillLimitsAndFailures(t *testing.T) {
	t.Parallel()
	s := startSim(t, cpisim.Config{}, plain)
	cfg := runtimeConfig(s, false)
	cfg.MaxResponseBody = 8 << 10
	c := newClient(t, cfg)
	ms := &memSpill{saved: map[string][]byte{}}
	call := func(size int) (*Response, error) {
		return c.Invoke(context.Background(), Request{URL: s.EndpointURL("Plain"), Body: []byte(strings.Repeat("a", size)),
			Timeout: 10 * time.Second, Stream: &Stream{SpillAbove: 1024, Spill: ms.spill}})
	}
	if resp, err := call(8 << 10); err != nil || resp.Size != 8<<10 || resp.BodyRef == "" {
		t.Fatalf("at the limit: %v %+v", err, resp)
	}
	for _, size := range []int{8<<10 + 1, 1 << 20} { // Content-Length known; chunked
		if _, err := call(size); !errors.Is(err, ErrResponseTooLarge) {
			t.Fatalf("%d bytes, above the limit: %v", size, err)
		}
	}
	ms.fail = errors.New("object store down")
	if _, err := call(4 << 10); !errors.Is(err, ErrSpill) {
		t.Fatalf("failing spill: %v", err)
	}
}
