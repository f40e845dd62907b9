package lease

import (
	"context"
	"errors"
	"time"
)

// Do takes the lease name, runs fn while renewing it, and releases it when
// fn returns. ErrHeld (fn not run) when another holder has it. If the lease
// is lost while fn runs, fn's context is canceled and Do returns ErrLost
// joined with fn's error.
func (m *Manager) Do(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	l, err := m.Acquire(ctx, name)
	if err != nil {
		return err
	}
	return l.hold(ctx, fn)
}

// Run blocks until ctx ends, running fn whenever this holder has the lease
// name: it takes the lease (retrying every RetryEvery while someone else
// holds it), runs fn with a context that is canceled if the lease is lost,
// and goes back to taking the lease after a loss. It returns nil when ctx
// ends, or fn's result when fn returns by itself (the lease released).
func (m *Manager) Run(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	for {
		l, err := m.Acquire(ctx, name)
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil:
			err = l.hold(ctx, fn)
			if ctx.Err() != nil {
				return nil
			}
			if !errors.Is(err, ErrLost) {
				return err
			}
			m.cfg.Log.Warn("lease lost; trying to take it again", "lease", name, "holder", m.cfg.Holder)
		case !errors.Is(err, ErrHeld):
			m.cfg.Log.Warn("lease: acquire failed", "lease", name, "err", err)
		}
		t := time.NewTimer(m.cfg.RetryEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// hold runs fn while renewing the lease every RenewEvery, then releases it.
func (l *Lease) hold(ctx context.Context, fn func(ctx context.Context) error) error {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn(fctx) }()
	tick := time.NewTicker(l.m.cfg.RenewEvery)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if rerr := l.Release(rctx); rerr != nil && !errors.Is(rerr, ErrLost) {
				l.m.cfg.Log.Warn("lease: release failed; it expires by itself", "lease", l.name, "err", rerr)
			}
			rcancel()
			return err
		case <-tick.C:
			err := l.Renew(ctx)
			switch {
			case err == nil:
			case errors.Is(err, ErrLost) || !l.m.cfg.Now().Add(l.m.cfg.RenewEvery).Before(l.exp):
				// Lost, or renewals failed until it would run out before
				// the next try: stop fn before someone else starts the
				// same work.
				cancel()
				ferr := <-done
				return errors.Join(ErrLost, ferr)
			default:
				l.m.cfg.Log.Warn("lease: renew failed; retrying", "lease", l.name, "err", err)
			}
		}
	}
}
