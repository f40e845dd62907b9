package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// CodeNotStored is the error code of a job whose record was written but
// whose message JetStream never stored (the submit answered 503, and no
// retry with its Idempotency-Key stored it): nothing can run it.
const CodeNotStored = "not_stored"

// recordSubjects are the subjects of the job records in their KV stream.
const recordSubjects = "$KV." + natsx.BucketJobs + ".>"

// AwaitingFirstMessage walks the job records stored after sequence after
// of the record bucket's stream and returns the IDs of those that may lack
// their message (queued, never dispatched, run 1) and were created before
// before. It stops at the first such record created later, or at the end,
// and returns the sequence to resume from: a record written again moves
// past it, so each record is looked at about once per write.
func (s *Store) AwaitingFirstMessage(ctx context.Context, after uint64, before time.Time) (uint64, []string, error) {
	st, err := s.res.JS.Stream(ctx, "KV_"+natsx.BucketJobs)
	if err != nil {
		return after, nil, fmt.Errorf("%w: record stream: %w", ErrUnavailable, err)
	}
	var ids []string
	for seq := after + 1; ; {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(recordSubjects))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return seq - 1, ids, nil
		}
		if err != nil {
			return seq - 1, ids, fmt.Errorf("%w: read record: %w", ErrUnavailable, err)
		}
		seq = m.Sequence + 1
		if m.Header.Get("KV-Operation") != "" {
			continue // a delete or purge marker
		}
		rec := &cpibv1.JobRecord{}
		if proto.Unmarshal(m.Data, rec) != nil || !awaitsFirstMessage(rec) {
			continue
		}
		if !rec.GetCreatedAt().AsTime().Before(before) {
			return m.Sequence - 1, ids, nil // too young to judge: look again later
		}
		ids = append(ids, strings.TrimPrefix(m.Subject, "$KV."+natsx.BucketJobs+"."))
	}
}

// FailNotStored ends the run of a job whose message does not exist:
// failed with CodeNotStored (the NotStored transition, with its event), only
// if the record still awaits its first message. It returns the terminal
// record, or nil when the job has moved on meanwhile.
func (s *Store) FailNotStored(ctx context.Context, id string) (*cpibv1.JobRecord, error) {
	rec, _, err := s.ApplyLatest(ctx, id, NotStored(), nil, nil)
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrInvalidTransition):
		return nil, nil
	case err != nil && !errors.Is(err, ErrEventPending):
		return nil, err
	}
	return rec, err
}
