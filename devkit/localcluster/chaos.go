package localcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/jobs"
	"github.com/nats-io/nats.go/jetstream"
)

// ChaosConfig is one chaos run.
type ChaosConfig struct {
	// Duration of the load and of the kills. Default 60s.
	Duration time.Duration
	// Concurrency is the number of submitting workers. Default 16.
	Concurrency int
	// KillEvery is the pause between two kills. Default 4s.
	KillEvery time.Duration
	// Flow is the flow submitted to. Default sim-echo.
	Flow string
	// Drain bounds the wait for accepted jobs to end after the load
	// stops; jobs not terminal by then are lost. Default 2m.
	Drain time.Duration
	// Seed makes the victims reproducible; 0 picks one.
	Seed uint64
}

func (c *ChaosConfig) setDefaults() {
	if c.Duration == 0 {
		c.Duration = time.Minute
	}
	if c.Concurrency == 0 {
		c.Concurrency = 16
	}
	if c.KillEvery == 0 {
		c.KillEvery = 4 * time.Second
	}
	if c.Flow == "" {
		c.Flow = "sim-echo"
	}
	if c.Drain == 0 {
		c.Drain = 2 * time.Minute
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
}

// Report is what a chaos run saw.
type Report struct {
	Seed uint64 `json:"seed"`
	// Kills lists the victims in order ("n2", "dispatcher-1", ...).
	Kills []string `json:"kills"`
	// Accepted submits (202), and submits refused with 503 or failed on
	// the network (retried by the load, as a partner would).
	Accepted int64 `json:"accepted"`
	Refused  int64 `json:"refused"`
	// Completed jobs have a terminal event; Succeeded and Failed split them.
	Completed int `json:"completed"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	// Lost accepted jobs had no terminal event when the drain ended.
	Lost int `json:"lost"`
	// Duplicates counts accepted jobs with more than one terminal event.
	Duplicates int `json:"duplicates"`
	// Extra counts terminal events of jobs that were not answered 202 (a
	// 503 whose job was stored after all: it runs).
	Extra     int     `json:"extra_terminal"`
	LoadS     float64 `json:"load_s"`
	DrainS    float64 `json:"drain_s"`
	Processes int     `json:"processes"`
}

// Chaos submits jobs through both ingresses for cfg.Duration while killing
// one random process (a NATS node, an ingress or a dispatcher) with SIGKILL
// every KillEvery and restarting it, then waits for every accepted job to
// end and counts terminal events per job on the EVENTS stream.
func (c *Cluster) Chaos(ctx context.Context, cc ChaosConfig) (*Report, error) {
	cc.setDefaults()
	out := c.cfg.Out
	rep := &Report{Seed: cc.Seed, Processes: len(c.order)}
	token, err := c.token(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.waitFlow(ctx, token, cc.Flow); err != nil {
		return nil, err
	}
	nc, js, err := natsx.Connect(natsx.ConnectConfig{URLs: NATSURLs, Name: "cpibroker-chaos"})
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	ev, err := countEvents(ctx, js)
	if err != nil {
		return nil, err
	}
	defer ev.stop()

	fmt.Fprintf(out, "chaos: %s of load on %s with %d workers, a kill every %s (seed %d)\n", cc.Duration, cc.Flow, cc.Concurrency, cc.KillEvery, cc.Seed)
	loadCtx, stopLoad := context.WithTimeout(ctx, cc.Duration)
	defer stopLoad()
	var (
		mu       sync.Mutex
		accepted = map[string]bool{}
		refused  atomic.Int64
		wg       sync.WaitGroup
	)
	client := &http.Client{Timeout: 30 * time.Second}
	ingresses := Ingresses()
	start := time.Now()
	for w := range cc.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; loadCtx.Err() == nil; n++ {
				id, ok := submit(loadCtx, client, ingresses[(w+n)%len(ingresses)], token, cc.Flow)
				if !ok {
					refused.Add(1)
					select {
					case <-loadCtx.Done():
					case <-time.After(100 * time.Millisecond):
					}
					continue
				}
				mu.Lock()
				accepted[id] = true
				mu.Unlock()
			}
		}()
	}
	rnd := rand.New(rand.NewPCG(cc.Seed, cc.Seed^0x9e3779b97f4a7c15))
	victims := []string{"n1", "n2", "n3", "ingress-1", "ingress-2", "dispatcher-1", "dispatcher-2"}
	for loadCtx.Err() == nil {
		select {
		case <-loadCtx.Done():
			continue
		case <-time.After(cc.KillEvery):
		}
		v := victims[rnd.IntN(len(victims))]
		rep.Kills = append(rep.Kills, v)
		mu.Lock()
		n := len(accepted)
		mu.Unlock()
		fmt.Fprintf(out, "chaos: %5.1fs  kill -9 %-12s (accepted so far %d)\n", time.Since(start).Seconds(), v, n)
		if err := c.Kill(v); err != nil {
			return nil, err
		}
		// Down for a moment, then back (a restarted pod or node).
		time.Sleep(time.Duration(500+rnd.IntN(1500)) * time.Millisecond)
		if err := c.Restart(ctx, v); err != nil {
			return nil, err
		}
	}
	wg.Wait()
	rep.LoadS = time.Since(start).Seconds()
	rep.Accepted, rep.Refused = int64(len(accepted)), refused.Load()
	fmt.Fprintf(out, "chaos: load over: %d accepted, %d refused or failed submits; waiting up to %s for every accepted job to end\n", rep.Accepted, rep.Refused, cc.Drain)

	drainStart := time.Now()
	for end := time.Now().Add(cc.Drain); time.Now().Before(end) && ev.missing(accepted) > 0; {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	rep.DrainS = time.Since(drainStart).Seconds()
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for id := range accepted {
		n := ev.count[id]
		switch {
		case n == 0:
			rep.Lost++
			continue
		case n > 1:
			rep.Duplicates++
		}
		rep.Completed++
		if ev.kind[id] == jobs.EventSucceeded {
			rep.Succeeded++
		} else {
			rep.Failed++
		}
	}
	for id := range ev.count {
		if !accepted[id] {
			rep.Extra++
		}
	}
	return rep, nil
}

// WriteText prints the report as a few lines.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "\nchaos report (seed %d, %d processes, %.0fs of load, %d kills: %s)\n", r.Seed, r.Processes, r.LoadS, len(r.Kills), strings.Join(r.Kills, " "))
	fmt.Fprintf(w, "  accepted   %d\n  completed  %d (succeeded %d, failed %d) after a %.1fs drain\n  lost       %d\n  duplicates %d (jobs with more than one terminal event)\n  refused    %d submits (503 or cut connection; retried)\n  extra      %d terminal events of jobs answered 503 (stored after all)\n",
		r.Accepted, r.Completed, r.Succeeded, r.Failed, r.DrainS, r.Lost, r.Duplicates, r.Refused, r.Extra)
}

func submit(ctx context.Context, client *http.Client, base, token, flow string) (string, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/flows/"+flow+"/jobs", strings.NewReader(`{"chaos":true}`))
	if err != nil {
		return "", false
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	var v struct {
		ID string `json:"id"`
	}
	if resp.StatusCode != http.StatusAccepted || json.NewDecoder(resp.Body).Decode(&v) != nil || v.ID == "" {
		_, _ = io.Copy(io.Discard, resp.Body)
		return "", false
	}
	return v.ID, true
}

// token fetches the seeded partner's access token from the first ingress.
func (c *Cluster) token(ctx context.Context) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, Ingresses()[0]+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.SetBasicAuth("partner", url.QueryEscape(c.cfg.PartnerSecret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("localcluster: token: %w", err)
	}
	defer resp.Body.Close()
	var v struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&v) != nil {
		return "", fmt.Errorf("localcluster: token: status %d (was the cluster seeded with another PARTNER_SECRET? start it with --fresh)", resp.StatusCode)
	}
	return v.AccessToken, nil
}

// waitFlow waits until the partner sees the flow (discovered from the
// simulator and enabled).
func (c *Cluster) waitFlow(ctx context.Context, token, flow string) error {
	end := time.Now().Add(time.Minute)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, Ingresses()[0]+"/v1/flows", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(b), `"`+flow+`"`) {
				return nil
			}
		}
		if time.Now().After(end) {
			return fmt.Errorf("localcluster: flow %s not available to the partner within a minute", flow)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// events counts terminal events per job, read from the start of EVENTS by
// an ordered consumer (which survives node loss by re-creating itself).
type events struct {
	mu    sync.Mutex
	count map[string]int
	kind  map[string]string
	stop  func()
}

func countEvents(ctx context.Context, js jetstream.JetStream) (*events, error) {
	ev := &events{count: map[string]int{}, kind: map[string]string{}}
	c, err := js.OrderedConsumer(ctx, natsx.StreamEvents, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, fmt.Errorf("localcluster: events: %w", err)
	}
	cc, err := c.Consume(func(m jetstream.Msg) {
		id := m.Headers().Get(jobs.HeaderJobID)
		ev.mu.Lock()
		ev.count[id]++
		ev.kind[id] = m.Headers().Get(jobs.HeaderEventType)
		ev.mu.Unlock()
	})
	if err != nil {
		return nil, fmt.Errorf("localcluster: events: %w", err)
	}
	ev.stop = cc.Stop
	return ev, nil
}

func (ev *events) missing(ids map[string]bool) int {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	n := 0
	for id := range ids {
		if ev.count[id] == 0 {
			n++
		}
	}
	return n
}
