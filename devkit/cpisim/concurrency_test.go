package cpisim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"sync"
	"testing"
	"time"
)

// TestConcurrentUse runs calls, token fetches, CSRF fetches, redeploys and
// fault changes at the same time; run it with -race.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	s := startSim(t, Config{Seed: 7}, append(DemoIFlows()[:1], IFlow{ID: "Flaky", Address: "/demo/flaky", Faults: Faults{ErrorRate: 0.3}})...)
	const workers, perWorker = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := worker(s, w, perWorker); err != nil {
				errs <- err
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 50; i++ {
			_ = s.SetFaults("Flaky", Faults{ErrorRate: float64(i%10) / 10, Latency: time.Duration(i%3) * time.Millisecond})
			_ = s.Deploy(IFlow{ID: fmt.Sprintf("Tmp%d", i%5), Address: fmt.Sprintf("/tmp/%d/*", i%5)})
			_ = s.Undeploy(fmt.Sprintf("Tmp%d", (i+2)%5))
			_ = s.IFlows()
			_ = s.Calls("Echo")
			_ = s.CallCount("Flaky")
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := s.CallCount("Echo"); n != workers*perWorker {
		t.Errorf("Echo CallCount = %d, want %d", n, workers*perWorker)
	}
	if n := s.CSRFFetches("Echo"); n != workers {
		t.Errorf("Echo CSRFFetches = %d, want %d", n, workers)
	}
	if p := s.MaxInFlight("Echo"); p < 1 || p > workers {
		t.Errorf("Echo MaxInFlight = %d", p)
	}
	if n := s.InFlight("Echo"); n != 0 {
		t.Errorf("Echo InFlight = %d after all calls", n)
	}
}

func TestCallsRing(t *testing.T) {
	t.Parallel()
	l := newCallLog(3, 0)
	for i := 0; i < 5; i++ {
		l.add(Call{Status: 200 + i})
	}
	got := l.calls()
	if len(got) != 3 || got[0].Status != 202 || got[2].Status != 204 {
		t.Errorf("ring: %+v", got)
	}
	if n, _ := l.counts(); n != 5 {
		t.Errorf("total %d", n)
	}
}

// worker is one concurrent caller: token, CSRF session, then calls.
func worker(s *Sim, w, calls int) error {
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	h.Set("Authorization", basic(s.cfg.RuntimeClientID, s.cfg.RuntimeClientSecret))
	res, err := doErr(nil, http.MethodPost, s.TokenURL(), h, []byte("grant_type=client_credentials"))
	if err != nil {
		return err
	}
	var tr tokenResponse
	if err := json.Unmarshal([]byte(res.body), &tr); err != nil {
		return fmt.Errorf("token: %d %w", res.status, err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	h = bearer(tr.AccessToken)
	h.Set("X-CSRF-Token", "Fetch")
	if res, err = doErr(c, http.MethodGet, s.EndpointURL("Echo"), h, nil); err != nil {
		return err
	}
	h.Set("X-CSRF-Token", res.header.Get("X-CSRF-Token"))
	for i := 0; i < calls; i++ {
		body := fmt.Sprintf("w%d-%d", w, i)
		res, err := doErr(c, http.MethodPost, s.URL()+"/http/demo/echo", h, []byte(body))
		if err != nil {
			return err
		}
		if res.status != 200 || res.body != body {
			return fmt.Errorf("echo: %d %q", res.status, res.body)
		}
		if res, err = doErr(nil, http.MethodPost, s.URL()+"/http/demo/flaky", bearer(tr.AccessToken), []byte(body)); err != nil {
			return err
		}
		if res.status != 200 && res.status != 503 {
			return fmt.Errorf("flaky: %d", res.status)
		}
	}
	return nil
}
