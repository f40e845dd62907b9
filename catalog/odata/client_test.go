package odata_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/catalog/odata"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/internal/cpitoken"
	"golang.org/x/time/rate"
)

func startSim(t *testing.T, cfg cpisim.Config, flows []cpisim.IFlow) *cpisim.Sim {
	t.Helper()
	sim, err := cpisim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flows {
		if err := sim.Deploy(f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	return sim
}

// waits records the backoff waits instead of sleeping.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(_ context.Context, d time.Duration) error {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	return nil
}

func apiClient(sim *cpisim.Sim, id, secret string, w *waits) *odata.Client {
	src := cpitoken.New(cpitoken.Config{ClientID: id, ClientSecret: secret, TokenURL: sim.TokenURL()})
	return &odata.Client{
		HTTP: src.Client(context.Background(), http.DefaultClient), Root: sim.URL() + "/api/v1",
		BackoffBase: time.Millisecond, Sleep: w.sleep,
	}
}

// TestGetAllPagesThousands reads 3000 endpoints in pages of 1000 (the
// tenant's maximum) through absolute __next links, and a small tenant
// through relative ones with ISO dates.
func TestGetAllPagesThousands(t *testing.T) {
	for _, tc := range []struct {
		n, pageSize, pages int
		relative           bool
	}{{3000, 1000, 3, false}, {25, 10, 3, true}} {
		sim := startSim(t, cpisim.Config{ODataPageSize: tc.pageSize, ODataRelativeNext: tc.relative, ODataISODates: tc.relative},
			cpisim.GeneratedIFlows(tc.n))
		c := apiClient(sim, cpisim.DefaultAPIClientID, cpisim.DefaultAPIClientSecret, &waits{})
		seen := map[string]bool{}
		err := c.GetAll(context.Background(), "ServiceEndpoints?$expand=EntryPoints", func(r json.RawMessage) error {
			var se odata.ServiceEndpoint
			if err := json.Unmarshal(r, &se); err != nil {
				return err
			}
			if se.LastUpdated.IsZero() || len(se.EntryPoints.Results) != 1 {
				t.Fatalf("endpoint %s: date %v, %d entry points", se.ID, se.LastUpdated, len(se.EntryPoints.Results))
			}
			seen[se.ID] = true
			return nil
		})
		if err != nil || len(seen) != tc.n {
			t.Fatalf("%+v: %d distinct endpoints, err %v", tc, len(seen), err)
		}
		if got := sim.APIRequests(); got != tc.pages {
			t.Fatalf("%+v: %d API requests, want %d pages", tc, got, tc.pages)
		}
	}
}

// TestGetRetries429ThenSucceeds: a tenant answering 429 with Retry-After,
// then 200; the client waits at least Retry-After each time.
func TestGetRetries429ThenSucceeds(t *testing.T) {
	sim := startSim(t, cpisim.Config{}, cpisim.DemoIFlows())
	if err := sim.SetAPIFaults(cpisim.APIFaults{FailNext: 2, RetryAfter: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	w := &waits{}
	c := apiClient(sim, cpisim.DefaultAPIClientID, cpisim.DefaultAPIClientSecret, w)
	n := 0
	if err := c.GetAll(context.Background(), "IntegrationRuntimeArtifacts", func(json.RawMessage) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 3 || len(w.d) != 2 || w.d[0] < 3*time.Second || w.d[1] < 3*time.Second {
		t.Fatalf("%d artifacts after waits %v; want 3 after two waits >= 3s", n, w.d)
	}
	// 503s without Retry-After back off exponentially and give up at MaxAttempts.
	if err := sim.SetAPIFaults(cpisim.APIFaults{FailNext: 100, Status: 503}); err != nil {
		t.Fatal(err)
	}
	w.d = nil
	c.MaxAttempts = 4
	err := c.GetAll(context.Background(), "IntegrationRuntimeArtifacts", func(json.RawMessage) error { return nil })
	var se *odata.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusServiceUnavailable || len(w.d) != 3 {
		t.Fatalf("err %v after %d waits; want a 503 StatusError after 3 waits", err, len(w.d))
	}
}

// TestGetPermanentFailures: 403 (runtime credentials on the API) and a
// refused token are not retried.
func TestGetPermanentFailures(t *testing.T) {
	sim := startSim(t, cpisim.Config{}, cpisim.DemoIFlows())
	w := &waits{}
	c := apiClient(sim, cpisim.DefaultRuntimeClientID, cpisim.DefaultRuntimeClientSecret, w)
	_, err := c.Get(context.Background(), sim.URL()+"/api/v1/ServiceEndpoints?$format=json")
	var se *odata.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusForbidden || len(w.d) != 0 {
		t.Fatalf("runtime key on the API: %v after %d waits", err, len(w.d))
	}
	c = apiClient(sim, cpisim.DefaultAPIClientID, "wrong", w)
	_, err = c.Get(context.Background(), sim.URL()+"/api/v1/ServiceEndpoints?$format=json")
	var te *cpitoken.Error
	if !errors.As(err, &te) || te.Status != http.StatusUnauthorized || !errors.Is(err, cpitoken.ErrRefused) || len(w.d) != 0 {
		t.Fatalf("wrong secret: %v after %d waits", err, len(w.d))
	}
}

// TestNextLinkMustStayOnTheTenant: a __next to another host is refused
// (the bearer token would follow it).
func TestNextLinkMustStayOnTheTenant(t *testing.T) {
	srv := http.NewServeMux()
	srv.HandleFunc("/api/v1/ServiceEndpoints", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"d":{"results":[],"__next":"https://evil.example/api/v1/ServiceEndpoints?$skiptoken=1"}}`))
	})
	ts := newServer(t, srv)
	c := &odata.Client{HTTP: http.DefaultClient, Root: ts + "/api/v1"}
	if err := c.GetAll(context.Background(), "ServiceEndpoints", func(json.RawMessage) error { return nil }); err == nil {
		t.Fatal("followed a __next link to another host")
	}
}

// TestGetKeepsBackingOffOn429: a tenant over its API limit answers 429
// more often than MaxAttempts allows for failures; the client keeps
// waiting (at least Retry-After each time), halves its pace on each 429
// down to the floor, and reads the collection in the end.
func TestGetKeepsBackingOffOn429(t *testing.T) {
	sim := startSim(t, cpisim.Config{}, cpisim.DemoIFlows())
	if err := sim.SetAPIFaults(cpisim.APIFaults{FailNext: 6, RetryAfter: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	w := &waits{}
	c := apiClient(sim, cpisim.DefaultAPIClientID, cpisim.DefaultAPIClientSecret, w)
	c.MaxAttempts = 2
	c.Limiter = rate.NewLimiter(1000, 1)
	c.MinRate = 100
	n := 0
	if err := c.GetAll(context.Background(), "IntegrationRuntimeArtifacts", func(json.RawMessage) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 3 || len(w.d) != 6 {
		t.Fatalf("%d artifacts after %d waits; want 3 after 6", n, len(w.d))
	}
	for _, d := range w.d {
		if d < 2*time.Second {
			t.Fatalf("waits %v: one is shorter than Retry-After", w.d)
		}
	}
	if got := c.Limiter.Limit(); got != 100 {
		t.Fatalf("pace after six 429s: %v/s, want the floor 100/s", got)
	}
	// MaxRateLimited bounds the 429s one request waits through.
	if err := sim.SetAPIFaults(cpisim.APIFaults{FailNext: 5}); err != nil {
		t.Fatal(err)
	}
	c.MaxRateLimited = 3
	_, err := c.Get(context.Background(), sim.URL()+"/api/v1/IntegrationRuntimeArtifacts?$format=json")
	var se *odata.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusTooManyRequests {
		t.Fatalf("err %v, want the 4th 429", err)
	}
}
