package ingress

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/dispatcher/state"
	"github.com/cpibroker/cpibroker/internal/metrics"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/gin-gonic/gin"
)

// policyState is what the ingress knows of dispatch policies without a KV
// read per request: breaker records and waiting markers (followed by a
// watch), and each client's queued jobs from the broker's one backlog
// sampler (the count /metrics reports too).
type policyState struct {
	cache *state.Cache
	// writer is the dispatch state's one writer, for an operator's breaker
	// reset.
	writer  *state.Store
	backlog *metrics.BacklogSampler
}

func newPolicyState(res *natsx.Resources, backlog *metrics.BacklogSampler, cfg Config) *policyState {
	if backlog == nil {
		backlog = metrics.NewBacklogSampler(res.JS, 0)
	}
	return &policyState{cache: state.NewCache(res.Breakers, res.Quota, cfg.Logger),
		writer: state.NewStore(res.Breakers, res.Quota), backlog: backlog}
}

// follow follows the state until ctx ends.
func (p *policyState) follow(ctx context.Context) {
	go func() { _ = p.cache.Run(ctx) }()
	p.backlog.Run(ctx)
}

// queued is a client's backlog.
func (p *policyState) queued(client string) int { return p.backlog.Queued(client) }

// accepted counts a job accepted since the last sample.
func (p *policyState) accepted(client string) { p.backlog.Accepted(client) }

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
			policies = append(policies, fmt.Sprintf(`"rate";q=%d;w=%d`, q.BurstLimit(), q.RateWindow()))
		}
		if q.Allow > 0 {
			iv := q.Interval.Duration()
			now := s.cfg.Now().UTC()
			win := q.Window(now)
			left := q.Allow - s.policy.cache.AllowUsed(cl.ID, win)
			policies = append(policies, fmt.Sprintf(`"allow";q=%d;w=%d`, q.Allow, int(iv/time.Second)))
			limits = append(limits, fmt.Sprintf(`"allow";r=%d;t=%d`, max(left, 0),
				int(math.Ceil(win.Add(iv).Sub(now).Seconds()))))
		}
	}
	c.Header("RateLimit-Policy", strings.Join(policies, ", "))
	c.Header("RateLimit", strings.Join(limits, ", "))
}
