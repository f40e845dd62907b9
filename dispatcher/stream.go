package dispatcher

import (
	"context"
	"io"
	"sync"

	"github.com/cpibroker/cpibroker/internal/cpiclient"
)

// bodyStream streams large bodies through the CPI call (DESIGN 7.3): a
// payload in the object store is read from it for each POST, and an answer
// longer than inline_max goes straight to the object store as the run's
// result. The first payload reader is opened here, so a JetStream failure
// redelivers the job instead of costing an attempt; closeBody releases it
// if the call never used it.
func (d *Dispatcher) bodyStream(ctx context.Context, a *pulled) (*cpiclient.Stream, func(), error) {
	id, run := a.job.GetId(), a.job.GetRun()
	st := &cpiclient.Stream{
		SpillAbove: int64(d.store.Config().InlineMax),
		Spill: func(ctx context.Context, r io.Reader) (string, error) {
			name, _, err := d.store.StoreResultStream(ctx, id, run, r)
			return name, err
		},
	}
	if a.job.GetPayloadObject() == "" {
		return st, func() {}, nil
	}
	first, err := d.store.OpenPayload(ctx, a.job)
	if err != nil {
		return nil, nil, err
	}
	var mu sync.Mutex
	st.Size = a.job.GetPayloadSize()
	st.Open = func() (io.ReadCloser, error) {
		mu.Lock()
		r := first
		first = nil
		mu.Unlock()
		if r != nil {
			return r, nil
		}
		return d.store.OpenPayload(ctx, a.job)
	}
	return st, func() {
		mu.Lock()
		defer mu.Unlock()
		if first != nil {
			_ = first.Close()
			first = nil
		}
	}, nil
}
