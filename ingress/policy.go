package ingress

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/dispatchstate"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/gin-gonic/gin"
	"github.com/nats-io/nats.go/jetstream"
)

// policyState is what the ingress knows of dispatch policies without a KV
// read per request: breaker records and waiting markers (followed by a
// watch), and each client's queued jobs, counted from the JOBS stream's
// per-subject totals every BacklogRefresh and bumped locally in between.
type policyState struct {
	cache   *dispatchstate.Cache
	jobs    jetstream.Stream
	refresh time.Duration

	mu      sync.Mutex
	backlog map[string]int
}

func newPolicyState(res *natsx.Resources, cfg Config) *policyState {
	return &policyState{
		cache: dispatchstate.NewCache(res.Breakers, res.Quota, cfg.Logger),
		jobs:  res.Jobs, refresh: cfg.BacklogRefresh, backlog: map[string]int{},
	}
}

// run follows the state until ctx ends.
func (p *policyState) run(ctx context.Context) {
	go func() { _ = p.cache.Run(ctx) }()
	t := time.NewTicker(p.refresh)
	defer t.Stop()
	for {
		p.count(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// count recomputes every client's backlog: messages on its queue and retry
// subjects (jobs not finished yet).
func (p *policyState) count(ctx context.Context) {
	info, err := p.jobs.Info(ctx, jetstream.WithSubjectFilter("cpib.jobs.*.*.*"))
	if err != nil {
		return
	}
	out := map[string]int{}
	for subj, n := range info.State.Subjects {
		parts := strings.Split(subj, ".")
		if len(parts) == 5 && (parts[2] == natsx.KindQueue || parts[2] == natsx.KindRetry) {
			out[parts[3]] += int(n)
		}
	}
	p.mu.Lock()
	p.backlog = out
	p.mu.Unlock()
}

// queued is a client's cached backlog.
func (p *policyState) queued(client string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.backlog[client]
}

// accepted counts a job accepted since the last refresh.
func (p *policyState) accepted(client string) {
	p.mu.Lock()
	p.backlog[client]++
	p.mu.Unlock()
}

// backlogRetry is the Retry-After of a backlog_full answer.
const backlogRetry = 5

// rateLimitHeaders writes RateLimit-Policy and RateLimit
// (draft-ietf-httpapi-ratelimit-headers): the backlog always, the quota's
// rate and calendar allowance when set. remaining is the backlog room.
func (s *Server) rateLimitHeaders(c *gin.Context, cl catalog.Client, remaining int, reset int) {
	policies := []string{fmt.Sprintf(`"backlog";q=%d`, cl.MaxBacklog)}
	limits := []string{fmt.Sprintf(`"backlog";r=%d`, max(remaining, 0))}
	if reset > 0 {
		limits[0] += fmt.Sprintf(";t=%d", reset)
	}
	if q := cl.Quota; q != nil {
		if q.Rate > 0 {
			burst := q.Burst
			if burst <= 0 {
				burst = int(math.Ceil(q.Rate))
			}
			policies = append(policies, fmt.Sprintf(`"rate";q=%d;w=%d`, burst, max(1, int(math.Ceil(float64(burst)/q.Rate)))))
		}
		if q.Allow > 0 {
			iv := intervalSeconds(q.Interval)
			now := s.cfg.Now().UTC()
			win := now.Truncate(time.Duration(iv) * time.Second)
			left := q.Allow - s.policy.cache.AllowUsed(cl.ID, win)
			policies = append(policies, fmt.Sprintf(`"allow";q=%d;w=%d`, q.Allow, iv))
			limits = append(limits, fmt.Sprintf(`"allow";r=%d;t=%d`, max(left, 0),
				int(math.Ceil(win.Add(time.Duration(iv)*time.Second).Sub(now).Seconds()))))
		}
	}
	c.Header("RateLimit-Policy", strings.Join(policies, ", "))
	c.Header("RateLimit", strings.Join(limits, ", "))
}

func intervalSeconds(s string) int {
	switch s {
	case "minute":
		return 60
	case "hour":
		return 3600
	}
	return 86400
}
