package dlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go/jetstream"
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

// Replayers put entries back to work; the packages that own the work do
// it, so the DLQ keeps only its format.
type Replayers struct {
	// Job starts a new run of a failed job (DESIGN 5: run+1, attempts from
	// 0, status queued) on its queue. A non-empty reason skips the entry.
	Job func(ctx context.Context, job *cpibv1.Job) (reason string, err error)
	// Delivery puts a dead delivery back on its lane with its attempts
	// reset; seq is the entry's DLQ sequence, for de-duplication.
	Delivery func(ctx context.Context, task *cpibv1.Delivery, seq uint64) error
}

// Replay puts the entries of stream with the given DLQ sequences back to
// work through put and removes them from the DLQ. Unknown sequences and
// entries that cannot be replayed are skipped with the reason.
func Replay(ctx context.Context, stream jetstream.Stream, seqs []uint64, put Replayers) (Result, error) {
	out := Result{Replayed: []string{}, Skipped: []Skipped{}}
	for _, seq := range seqs {
		id := strconv.FormatUint(seq, 10)
		m, err := stream.GetMsg(ctx, seq)
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
			reason, err := put.Job(ctx, e.job)
			if err != nil {
				return out, err
			}
			if reason != "" {
				out.Skipped = append(out.Skipped, Skipped{ID: id, Reason: reason})
				continue
			}
		default:
			if err := put.Delivery(ctx, e.task, seq); err != nil {
				return out, err
			}
		}
		if err := stream.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, fmt.Errorf("dlq: remove %d after replay: %w", seq, err)
		}
		out.Replayed = append(out.Replayed, id)
	}
	return out, nil
}
