package dlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// Skipped is an entry Replay did not replay, and why.
type Skipped struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// Result is what Replay did.
type Result struct {
	Replayed []string  `json:"replayed"`
	Skipped  []Skipped `json:"skipped"`
}

// Replay puts the entries with the given DLQ sequences back to work and
// removes them from the DLQ. A failed job starts a new run (DESIGN 5: run+1,
// attempts from 0, status queued) on its queue, where the dispatchers pace
// it by the client's and the flow's quotas like any job; a dead delivery
// goes back to its lane with its attempts reset. Unknown sequences and
// entries that cannot be replayed are skipped with the reason.
func Replay(ctx context.Context, res *natsx.Resources, store *jobs.Store, seqs []uint64) (Result, error) {
	out := Result{Replayed: []string{}, Skipped: []Skipped{}}
	for _, seq := range seqs {
		id := strconv.FormatUint(seq, 10)
		m, err := res.DLQ.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			out.Skipped = append(out.Skipped, Skipped{ID: id, Reason: "no such entry"})
			continue
		}
		if err != nil {
			return out, fmt.Errorf("dlq: read %d: %w", seq, err)
		}
		e, ok := decode(m.Subject, m.Header, m.Data, seq, m.Time)
		switch {
		case !ok:
			out.Skipped = append(out.Skipped, Skipped{ID: id, Reason: "undecodable entry"})
			continue
		case e.Kind == KindJob && e.job == nil:
			out.Skipped = append(out.Skipped, Skipped{ID: id, Reason: "undecodable job message"})
			continue
		case e.Kind == KindJob:
			reason, err := store.ReplayRun(ctx, e.job)
			if err != nil {
				return out, err
			}
			if reason != "" {
				out.Skipped = append(out.Skipped, Skipped{ID: id, Reason: reason})
				continue
			}
		default:
			if err := replayDelivery(ctx, res, e.task, seq); err != nil {
				return out, err
			}
		}
		if err := res.DLQ.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, fmt.Errorf("dlq: remove %d after replay: %w", seq, err)
		}
		out.Replayed = append(out.Replayed, id)
	}
	return out, nil
}

// replayDelivery publishes the delivery again as a fresh task. The DLQ
// sequence in Nats-Msg-Id makes a repeated replay of one entry harmless.
func replayDelivery(ctx context.Context, res *natsx.Resources, t *cpibv1.Delivery, seq uint64) error {
	t.Attempts, t.LastError, t.LastStatus = 0, "", 0
	t.Replays++
	b, err := proto.Marshal(t)
	if err != nil {
		return fmt.Errorf("dlq: encode delivery: %w", err)
	}
	msg := &nats.Msg{Subject: natsx.DeliverySubject(t.GetClient(), t.GetLane()), Data: b}
	if _, err := res.JS.PublishMsg(ctx, msg, jetstream.WithMsgID(fmt.Sprintf("%s.replay.%d", t.GetId(), seq))); err != nil {
		return fmt.Errorf("dlq: replay %d: %w", seq, err)
	}
	return nil
}
