package cpiclient

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/cpisim"
)

// fakeClock is an injectable clock.
type fakeClock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration // added after every reading, when set
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now
	c.now = c.now.Add(c.step)
	return t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// startSim runs a simulator on loopback for the test.
func startSim(t testing.TB, cfg cpisim.Config, flows ...cpisim.IFlow) *cpisim.Sim {
	t.Helper()
	s, err := cpisim.New(cfg)
	if err != nil {
		t.Fatalf("cpisim.New: %v", err)
	}
	for _, f := range flows {
		if err := s.Deploy(f); err != nil {
			t.Fatalf("Deploy(%s): %v", f.ID, err)
		}
	}
	if _, err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// runtimeConfig is a client config with the simulator's runtime key.
func runtimeConfig(s *cpisim.Sim, csrf bool) Config {
	return Config{
		TokenURL:     s.TokenURL(),
		ClientID:     cpisim.DefaultRuntimeClientID,
		ClientSecret: cpisim.DefaultRuntimeClientSecret,
		CSRF:         csrf,
	}
}

func newClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// invoke calls with a 10s bound and fails the test on error.
func invoke(t testing.TB, c *Client, r Request) *Response {
	t.Helper()
	if r.Timeout == 0 {
		r.Timeout = 10 * time.Second
	}
	resp, err := c.Invoke(context.Background(), r)
	if err != nil {
		t.Fatalf("Invoke(%s): %v", r.URL, err)
	}
	return resp
}

// statuses lists the statuses the simulator recorded for an iFlow.
func statuses(s *cpisim.Sim, id string) []int {
	var out []int
	for _, c := range s.Calls(id) {
		out = append(out, c.Status)
	}
	return out
}

var (
	echo  = cpisim.IFlow{ID: "Echo", Address: "/demo/echo", CSRF: true}
	plain = cpisim.IFlow{ID: "Plain", Address: "/plain", CSRF: false}
)
