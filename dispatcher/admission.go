package dispatcher

import (
	"context"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/natsx"
)

// Admission: what lets a puller pull jobs and each pulled job run. The
// breaker says how many jobs of the flow may go (a batch when closed, one
// probe when half-open, none when open); the scheduler grants slots and
// budget permits in fair order. A grant holds both for one pull; each job
// pulled takes its admission from it, and what no job took goes back when
// the grant is closed.

// grant is a puller's admission to pull up to n jobs of its pair.
type grant struct {
	d     *Dispatcher
	flow  string
	t     *ticket // slots and permits for n jobs
	n     int
	taken int
	probe bool // a half-open breaker's probe, not taken yet
}

// admit asks for the right to pull jobs of p's pair now. It returns nil
// and true when the breaker lets nothing through (wait for it to change),
// nil and false when ctx ended while waiting for the scheduler.
func (p *puller) admit(ctx context.Context, c catalog.Client, f catalog.Flow) (*grant, bool) {
	d := p.d
	limit, probe := d.breakers.pullLimit(p.flow, f.Policy.Breaker, d.cfg.BatchSize)
	if limit == 0 {
		return nil, true
	}
	n, t := d.sched.acquire(ctx, p.pair(), c.Weight, limit, p.kind == natsx.KindRetry, budgetsFor(c, f), p.budgets)
	if n == 0 {
		if probe {
			d.breakers.unprobe(p.flow)
		}
		return nil, false
	}
	return &grant{d: d, flow: p.flow, t: t, n: n, probe: probe}, true
}

// admitOne is admit for one job already pulled by a long poll: no probe
// (a probe is never held through a long poll). nil when ctx ended first.
func (p *puller) admitOne(ctx context.Context, c catalog.Client, f catalog.Flow) *grant {
	n, t := p.d.sched.acquire(ctx, p.pair(), c.Weight, 1, p.kind == natsx.KindRetry, budgetsFor(c, f), p.budgets)
	if n == 0 {
		return nil
	}
	return &grant{d: p.d, flow: p.flow, t: t, n: n}
}

// isProbe reports whether this grant pulls a half-open breaker's probe.
func (g *grant) isProbe() bool { return g.probe }

// take hands one pulled job its admission: a share of the grant's slots
// and permits, and the probe if the grant has it.
func (g *grant) take() *admission {
	a := &admission{d: g.d, flow: g.flow, t: g.t, probe: g.probe}
	g.probe = false
	g.taken++
	return a
}

// close gives back what no pulled job took: unused slots and permits, and
// an unused probe reservation. It returns how many jobs took a share.
func (g *grant) close() int {
	g.d.sched.giveBack(g.t, g.n-g.taken)
	if g.probe {
		g.d.breakers.unprobe(g.flow)
		g.probe = false
	}
	return g.taken
}

// admission is one pulled job's right to run: its slot and permits, and
// for a half-open breaker's probe the probe reservation, until the call
// takes it over (allow). done returns all of it, once.
type admission struct {
	d     *Dispatcher
	flow  string
	t     *ticket
	probe bool
}

// isProbe reports whether the job still holds a probe reservation.
func (a *admission) isProbe() bool { return a != nil && a.probe }

// waited says whether the pull waited for a budget: which ("quota" or
// "concurrency") and for how long.
func (a *admission) waited() *ticket {
	if a == nil || a.t == nil || a.t.waited == "" {
		return nil
	}
	return a.t
}

// allow asks the flow's breaker for the call; the call's outcome, reported
// through done, ends a probe reservation from then on.
func (a *admission) allow(cfg catalog.Breaker) (done func(ok bool), err error) {
	done, err = a.d.breakers.allow(a.flow, cfg, a.probe)
	a.probe = false
	return done, err
}

// done returns the job's slot and permits, and a probe reservation no call
// took over.
func (a *admission) done() {
	a.d.sched.done(a.t)
	if a.probe {
		a.d.breakers.unprobe(a.flow)
		a.probe = false
	}
}
