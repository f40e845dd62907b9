package bench

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats.go/jetstream"
)

// benchClientB is the partner that submits at a low steady rate in the
// fairness phase.
const benchClientB = "bench-b"

// fairnessResult is what the fairness phase measured: B's queue wait
// (created_at → completed_at; the iFlow answers at once unless
// --cpi-latency) alone and while A's flood drains.
type fairnessResult struct {
	alone, flood    *Histogram
	floodAccepted   int64
	flowConcurrency int
	aLeft           uint64 // A's jobs still queued when B's last flood job ended
	bLost           int64
}

// runFairness measures B alone, then floods A's queue with cfg.Flood jobs
// (dispatching paused while they are accepted, so the whole flood is queued
// at once) and measures B again while A's backlog drains.
func runFairness(ctx context.Context, cfg Config, dir string, payload []byte) (fairnessResult, error) {
	out := fairnessResult{alone: NewHistogram(), flood: NewHistogram(), flowConcurrency: max(cfg.FairnessConcurrency, 0)}
	sys, err := startSystem(ctx, cfg, dir, false)
	if err != nil {
		return out, err
	}
	defer sys.stop()
	bTok, err := sys.addPartner(ctx, benchClientB)
	if err != nil {
		return out, err
	}
	if cfg.FairnessConcurrency > 0 {
		f, _ := sys.b.Catalog.Flow(benchFlow)
		f.Policy.Concurrency = cfg.FairnessConcurrency
		if err := sys.b.Catalog.PutFlow(ctx, f, false); err != nil {
			return out, fmt.Errorf("bench: flow concurrency: %w", err)
		}
	}
	client := newHTTPClient(cfg.Concurrency)
	defer client.CloseIdleConnections()
	bt := sys.target(payload)
	bt.header = bt.header.Clone()
	bt.header.Set("Authorization", "Bearer "+bTok)

	logf(cfg.Progress, "bench: fairness: B alone, %.0f jobs/s for %s", cfg.FairnessRate, cfg.FairnessWindow)
	ids := steady(ctx, client, bt, cfg.FairnessRate, cfg.FairnessWindow)
	lost, err := sys.waitRecords(ctx, ids, out.alone, cfg.DrainTimeout)
	if err != nil {
		return out, err
	}
	out.bLost += lost

	logf(cfg.Progress, "bench: fairness: A floods %d jobs (dispatching paused)", cfg.Flood)
	sys.b.Dispatcher.Pause()
	out.floodAccepted = flood(ctx, client, sys.target(payload), cfg.Concurrency, cfg.Flood)
	sys.b.Dispatcher.Resume()
	logf(cfg.Progress, "bench: fairness: %d accepted; B at %.0f jobs/s for %s while A's backlog drains", out.floodAccepted, cfg.FairnessRate, cfg.FairnessWindow)
	ids = steady(ctx, client, bt, cfg.FairnessRate, cfg.FairnessWindow)
	lost, err = sys.waitRecords(ctx, ids, out.flood, cfg.DrainTimeout)
	if err != nil {
		return out, err
	}
	out.bLost += lost
	if info, err := sys.b.Resources.Jobs.Info(ctx, jetstream.WithSubjectFilter(natsx.ConsumerSubject(natsx.KindQueue, benchClient, "*"))); err == nil {
		out.aLeft = info.State.Msgs
	}
	logf(cfg.Progress, "bench: fairness: B p50 %.1f ms alone, %.1f ms under the flood (%d of A's jobs still queued)",
		ms(out.alone.Percentile(0.5)), ms(out.flood.Percentile(0.5)), out.aLeft)
	return out, ctx.Err()
}

// steady submits at rate per second for d and returns the accepted IDs.
func steady(ctx context.Context, client *http.Client, t target, rate float64, d time.Duration) []string {
	var mu sync.Mutex
	var ids []string
	t.onAccepted = func(_ int, resp *http.Response) {
		if id := resp.Header.Get("Location"); len(id) > len("/v1/jobs/") {
			mu.Lock()
			ids = append(ids, id[len("/v1/jobs/"):])
			mu.Unlock()
		}
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	end := time.After(d)
	var wg sync.WaitGroup
	for loop := true; loop; {
		select {
		case <-ctx.Done():
			loop = false
		case <-end:
			loop = false
		case <-tick.C:
			wg.Add(1)
			go func() { defer wg.Done(); _, _, _ = send(ctx, client, t, 0) }()
		}
	}
	wg.Wait()
	return ids
}

// flood submits n jobs with the given concurrency as fast as they are
// accepted and returns how many were.
func flood(ctx context.Context, client *http.Client, t target, concurrency, n int) int64 {
	var next, accepted atomic.Int64
	var wg sync.WaitGroup
	for w := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				if st, _, err := send(ctx, client, t, w); err == nil && st == http.StatusAccepted {
					accepted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return accepted.Load()
}

// waitRecords waits until every job in ids is terminal (at most timeout)
// and records created_at → completed_at; it returns how many were not.
func (s *system) waitRecords(ctx context.Context, ids []string, h *Histogram, timeout time.Duration) (int64, error) {
	deadline := time.Now().Add(timeout)
	pending := ids
	for len(pending) > 0 && time.Now().Before(deadline) {
		var left []string
		for _, id := range pending {
			rec, _, err := s.b.Jobs.Get(ctx, id)
			if err != nil || rec.GetCompletedAt() == nil {
				left = append(left, id)
				continue
			}
			h.Record(rec.GetCompletedAt().AsTime().Sub(rec.GetCreatedAt().AsTime()))
		}
		pending = left
		if len(pending) > 0 {
			select {
			case <-ctx.Done():
				return int64(len(pending)), ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return int64(len(pending)), nil
}

// addPartner registers another partner granted the bench flow (weight 1,
// no quota) and returns its token.
func (s *system) addPartner(ctx context.Context, id string) (string, error) {
	secret, err := newSecret()
	if err != nil {
		return "", err
	}
	hash, err := catalog.HashSecret(secret)
	if err != nil {
		return "", err
	}
	if err := s.b.Catalog.PutClient(ctx, catalog.Client{
		ID: id, Roles: []string{catalog.RolePartner}, Enabled: true, Grants: []string{benchFlow},
		CallbackPrefixes: []string{}, Weight: 1, SecretHashes: []string{hash},
	}, false); err != nil {
		return "", fmt.Errorf("bench: client %s: %w", id, err)
	}
	return fetchToken(ctx, s.b.BaseURL(), id, secret)
}

// fairnessReport turns the result into the report's figures.
func fairnessReport(r fairnessResult) *Fairness {
	return &Fairness{
		FlowConcurrency: r.flowConcurrency,
		BP50MSAlone:     ms(r.alone.Percentile(0.5)), BP99MSAlone: ms(r.alone.Percentile(0.99)),
		BP50MSFlood: ms(r.flood.Percentile(0.5)), BP99MSFlood: ms(r.flood.Percentile(0.99)),
		Flood: r.floodAccepted, BJobsAlone: r.alone.Count(), BJobsFlood: r.flood.Count(),
		ALeftQueued: r.aLeft, BLost: r.bLost,
	}
}
