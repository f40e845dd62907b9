package delivery

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// lane pulls one endpoint's consumer. It pulls a task only when it has a
// free slot, so a slow receiver's backlog waits in JetStream (not in
// memory, not in an ack slot) and other lanes are untouched.
type lane struct {
	d                 *Deliverer
	cons              jetstream.Consumer
	name, client, key string
	slots             chan struct{}
	ctx               context.Context
	cancel            context.CancelFunc
}

func newLane(ctx context.Context, d *Deliverer, c jetstream.Consumer, name, client, key string) *lane {
	l := &lane{d: d, cons: c, name: name, client: client, key: key, slots: make(chan struct{}, d.cfg.EndpointConcurrency)}
	l.ctx, l.cancel = context.WithCancel(ctx)
	return l
}

func (l *lane) stop() { l.cancel() }

func (l *lane) run() {
	ctx := l.ctx
	defer l.cancel()
	d := l.d
	idleSince := d.cfg.Now()
	errWait := 50 * time.Millisecond
	for ctx.Err() == nil {
		select {
		case l.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		batch, err := l.cons.Fetch(1, jetstream.FetchMaxWait(d.cfg.IdleWait))
		got := false
		if err == nil {
			for m := range batch.Messages() {
				got = true
				if !d.startWork() {
					// Shutting down: hand the task back at once.
					<-l.slots
					_ = m.Nak()
					continue
				}
				go func() {
					defer d.work.Done()
					defer func() { <-l.slots }()
					d.attempt(context.WithoutCancel(ctx), l, m)
				}()
			}
			err = batch.Error()
		}
		if got {
			idleSince, errWait = d.cfg.Now(), 50*time.Millisecond
			continue
		}
		<-l.slots
		switch {
		case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound):
			return
		case err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) && ctx.Err() == nil:
			select {
			case <-ctx.Done():
			case <-time.After(errWait):
			}
			errWait = min(errWait*2, 2*time.Second)
		case d.cfg.Now().Sub(idleSince) > d.cfg.IdleLaneTTL && l.retire(ctx):
			return
		}
	}
}

// retire deletes the lane's consumer when it is empty. The fan-out or the
// reconcile loop creates it again when a task arrives.
func (l *lane) retire(ctx context.Context) bool {
	info, err := l.cons.Info(ctx)
	if err != nil || info.NumPending > 0 || info.NumAckPending > 0 || len(l.slots) > 0 {
		return false
	}
	if err := l.d.res.JS.DeleteConsumer(ctx, info.Stream, info.Name); err != nil {
		return false
	}
	l.d.breakers.forget(l.name)
	l.d.cfg.Logger.Debug("delivery: idle lane removed", "lane", l.name)
	return true
}
