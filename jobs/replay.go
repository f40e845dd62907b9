package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/cpibroker/cpibroker/internal/natsx"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// ReplayRun starts the next run of a failed job from its dead-lettered
// message (DESIGN 5: run+1, attempts from 0, status queued) on its queue,
// where the dispatchers pace it like any job. The message is published
// before the record moves, so a crash in between leaves a message that the
// dispatcher adopts (Load writes the new run's record). It returns why the
// job was not replayed, or "".
func (s *Store) ReplayRun(ctx context.Context, job *cpibv1.Job) (string, error) {
	rec, _, err := s.Get(ctx, job.GetId())
	switch {
	case errors.Is(err, ErrNotFound):
		return "the job's record is gone (retention passed)", nil
	case err != nil:
		return "", fmt.Errorf("jobs: read job %s: %w", job.GetId(), err)
	case rec.GetRun() != job.GetRun():
		return "the job was replayed already (run " + strconv.Itoa(int(rec.GetRun())) + ")", nil
	case rec.GetStatus() != cpibv1.JobStatus_JOB_STATUS_FAILED:
		return "the job's run did not fail", nil
	}
	next := NextRun(job, rec.GetRun(), s.cfg.Now())
	b, err := proto.Marshal(next)
	if err != nil {
		return "", fmt.Errorf("jobs: encode job: %w", err)
	}
	if err := s.queues.ensure(ctx, job.GetClient(), job.GetFlow()); err != nil {
		return "", err
	}
	msg := &nats.Msg{Subject: natsx.QueueSubject(job.GetClient(), job.GetFlow(), job.GetId()), Data: b}
	if _, err := s.res.JS.PublishMsg(ctx, msg, jetstream.WithMsgID(fmt.Sprintf("%s.%d", job.GetId(), next.GetRun()))); err != nil {
		return "", fmt.Errorf("jobs: requeue job %s: %w", job.GetId(), err)
	}
	_, _, err = s.ApplyLatest(ctx, job.GetId(), Replay(next), nil, nil)
	if err != nil && !errors.Is(err, ErrInvalidTransition) { // invalid: the dispatcher took the new run over already
		return "", fmt.Errorf("jobs: record new run of %s: %w", job.GetId(), err)
	}
	return "", nil
}
