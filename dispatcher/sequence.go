package dispatcher

import (
	"context"
	"time"

	"github.com/cpibroker/cpibroker/internal/lease"
)

// sequenceLease names the KV lease of the sequence repair pass: one
// dispatcher at a time runs it.
const sequenceLease = "sequence-repair"

// idleCursorTTL is how long the cursor of a key with nothing queued is
// kept (its next job then takes the fast path without a new cursor).
const idleCursorTTL = time.Hour

// sequenceLoop runs the repair pass of ordered sequences (Ordering-Key)
// whenever this dispatcher holds the lease: every SweepInterval it walks
// the waiting ordered jobs (jobs.Store.RepairSequences) and moves on what
// a crash left behind: a key whose head ended while its process died, a key
// with waiting jobs and no head, a waiting job past its expiry. The normal
// path needs none of it: the transition that ends a head moves its
// sequence on.
func (d *Dispatcher) sequenceLoop(ctx context.Context) {
	m, err := lease.New(lease.Config{KV: d.res.Leases, Holder: d.holder, Log: d.cfg.Logger})
	if err != nil {
		d.cfg.Logger.Error("dispatcher: sequence repair disabled", "err", err)
		return
	}
	_ = m.Run(ctx, sequenceLease, func(ctx context.Context) error {
		var waiting, heads uint64
		for {
			next, err := d.store.RepairSequences(ctx, waiting, d.cfg.SweepBatch)
			if err != nil && ctx.Err() == nil {
				d.cfg.Logger.Warn("dispatcher: sequence repair read failed", "err", err)
			}
			waiting = next
			next, err = d.store.RepairHeads(ctx, heads, d.cfg.SweepBatch, d.cfg.SequenceRepairGrace, idleCursorTTL)
			if err != nil && ctx.Err() == nil {
				d.cfg.Logger.Warn("dispatcher: sequence head repair read failed", "err", err)
			}
			heads = next
			wait := d.cfg.SweepInterval
			if waiting != 0 || heads != 0 {
				wait = 0 // more to look at
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
	})
}
