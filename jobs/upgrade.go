package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"

	"github.com/cpibroker/cpibroker/internal/lease"
	"github.com/cpibroker/cpibroker/internal/natsx"
)

// Subject filters of the job messages and retry schedules written by the
// release before the job ID moved into the queue subject: five-token
// queue and retry subjects, which no consumer filters any more.
const (
	legacyQueueFilter = "cpib.jobs." + natsx.KindQueue + ".*.*"
	legacyRetryFilter = "cpib.jobs." + natsx.KindRetry + ".*.*"
	scheduleFilter    = "cpib.jobs.s.*"
	// upgradeLease serialises MoveLegacyJobs between processes.
	upgradeLease = "jobs-upgrade"
	// movedIDSuffix marks the Nats-Msg-Id of a moved message when the
	// plain job ID is still in the duplicate window as the old message's.
	movedIDSuffix = ".moved"
)

// Moved counts what MoveLegacyJobs moved.
type Moved struct {
	// Queued and Retries are job messages moved from the old queue and
	// retry subjects; Schedules are pending retry schedules retargeted.
	Queued, Retries, Schedules int
	// Consumers are (client, flow) consumers given today's filter.
	Consumers int
}

// Total is the number of messages moved (consumers are not counted).
func (m Moved) Total() int { return m.Queued + m.Retries + m.Schedules }

// MoveLegacyJobs is the upgrade step run at start: every job message the
// previous release queued on cpib.jobs.q.<client>.<flow> or
// cpib.jobs.r.<client>.<flow> (no job ID token, so no consumer pulls it) is
// republished with its headers on QueueSubject or RetrySubject under
// Nats-Msg-Id = the job ID, then deleted by sequence; a pending retry
// schedule whose target is an old retry subject is rescheduled onto the
// new one. One process does it at a time (a lease; a process that finds it
// held skips the step), and two at once are safe too: the second publish
// of a job is de-duplicated, or, past the window, dropped by the
// dispatcher's ownership rules. Idempotent: a second run moves nothing.
func (s *Store) MoveLegacyJobs(ctx context.Context) (Moved, error) {
	var moved Moved
	m, err := lease.New(lease.Config{KV: s.res.Leases, Log: s.cfg.Logger})
	if err != nil {
		return moved, err
	}
	err = m.Do(ctx, upgradeLease, func(ctx context.Context) (err error) {
		moved, err = s.moveLegacy(ctx)
		return err
	})
	if errors.Is(err, lease.ErrHeld) {
		s.cfg.Logger.Info("jobs: another process moves the old-subject job messages; skipped")
		return moved, nil
	}
	if err != nil {
		return moved, fmt.Errorf("jobs: move old-subject job messages: %w", err)
	}
	s.cfg.Logger.Info("jobs: moved old-subject job messages", "queued", moved.Queued,
		"retries", moved.Retries, "schedules", moved.Schedules, "consumers", moved.Consumers)
	return moved, nil
}

func (s *Store) moveLegacy(ctx context.Context) (Moved, error) {
	var moved Moved
	// The previous release's consumers filter the old five-token subjects
	// and no dispatcher updates a consumer it runs: give each today's
	// filter, or a moved job would wait behind a consumer that never
	// matches it.
	n, err := s.refilterConsumers(ctx)
	if err != nil {
		return moved, err
	}
	moved.Consumers = n
	// Schedules first: one that fires while the queues are scanned lands
	// on a new subject.
	if moved.Schedules, err = s.eachMsg(ctx, scheduleFilter, s.moveSchedule); err != nil {
		return moved, err
	}
	if moved.Queued, err = s.eachMsg(ctx, legacyQueueFilter, s.moveJob); err != nil {
		return moved, err
	}
	moved.Retries, err = s.eachMsg(ctx, legacyRetryFilter, s.moveJob)
	return moved, err
}

// refilterConsumers updates every JOBS consumer of a (kind, client, flow)
// whose filter is the old five-token subject to ConsumerSubject.
func (s *Store) refilterConsumers(ctx context.Context) (int, error) {
	n := 0
	lister := s.res.Jobs.ListConsumers(ctx)
	var stale [][3]string
	for info := range lister.Info() {
		kind, client, flow, ok := natsx.ParseConsumerName(info.Name)
		if !ok || info.Config.FilterSubject == natsx.ConsumerSubject(kind, client, flow) {
			continue
		}
		stale = append(stale, [3]string{kind, client, flow})
	}
	if err := lister.Err(); err != nil {
		return 0, fmt.Errorf("list consumers: %w", err)
	}
	for _, c := range stale {
		if _, err := natsx.EnsureConsumer(ctx, s.res.JS, c[0], c[1], c[2], s.res.Layout.AckWait); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// eachMsg runs fn on every message of the JOBS stream on filter, in
// sequence order (direct gets of the next message on the filter), and
// counts those fn moved.
func (s *Store) eachMsg(ctx context.Context, filter string, fn func(context.Context, *jetstream.RawStreamMsg) (bool, error)) (int, error) {
	n := 0
	for seq := uint64(1); ; {
		m, err := s.res.Jobs.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("read %s after seq %d: %w", filter, seq, err)
		}
		ok, err := fn(ctx, m)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
		seq = m.Sequence + 1
	}
}

// moveJob republishes one old-subject job message on its new subject and
// deletes the old one.
func (s *Store) moveJob(ctx context.Context, m *jetstream.RawStreamMsg) (bool, error) {
	parts := strings.Split(m.Subject, ".")
	job := &cpibv1.Job{}
	if err := proto.Unmarshal(m.Data, job); err != nil || job.GetId() == "" || len(parts) != 5 {
		// Not a job message: leave it for an operator rather than lose it.
		s.cfg.Logger.Warn("jobs: old-subject message is not a job; left in place", "subject", m.Subject, "seq", m.Sequence, "error", err)
		return false, nil
	}
	subject := natsx.QueueSubject(parts[3], parts[4], job.GetId())
	if parts[2] == natsx.KindRetry {
		subject = natsx.RetrySubject(parts[3], parts[4], job.GetId())
	}
	if _, _, _, id, ok := natsx.ParseJobSubject(subject); !ok || id != job.GetId() {
		s.cfg.Logger.Warn("jobs: old-subject job has an unusable ID; left in place", "subject", m.Subject, "seq", m.Sequence)
		return false, nil
	}
	msg := &nats.Msg{Subject: subject, Data: m.Data, Header: copyHeader(m.Header)}
	// The pair's consumer (with today's filter) exists before the job is
	// on its subject, as at submit.
	if _, err := natsx.EnsureConsumer(ctx, s.res.JS, parts[2], parts[3], parts[4], s.res.Layout.AckWait); err != nil {
		return false, err
	}
	if err := s.republish(ctx, msg, job.GetId(), m.Sequence); err != nil {
		return false, err
	}
	if err := s.deleteMsg(ctx, m.Sequence); err != nil {
		return false, err
	}
	return true, nil
}

// moveSchedule reschedules a pending retry whose target is an old retry
// subject onto the new one (same subject, time and body) and deletes the
// old schedule.
func (s *Store) moveSchedule(ctx context.Context, m *jetstream.RawStreamMsg) (bool, error) {
	target := m.Header.Get(jetstream.ScheduleTargetHeader)
	parts := strings.Split(target, ".")
	if len(parts) != 5 || parts[0] != "cpib" || parts[1] != "jobs" || parts[2] != natsx.KindRetry {
		return false, nil // a new-format schedule, or none
	}
	job := &cpibv1.Job{}
	if err := proto.Unmarshal(m.Data, job); err != nil || job.GetId() == "" {
		s.cfg.Logger.Warn("jobs: old retry schedule is not a job; left in place", "subject", m.Subject, "seq", m.Sequence, "error", err)
		return false, nil
	}
	h := copyHeader(m.Header)
	h.Set(jetstream.ScheduleTargetHeader, natsx.RetrySubject(parts[3], parts[4], job.GetId()))
	msg := &nats.Msg{Subject: m.Subject, Data: m.Data, Header: h}
	if _, err := s.res.JS.PublishMsg(ctx, msg); err != nil {
		return false, fmt.Errorf("reschedule retry of job %s: %w", job.GetId(), err)
	}
	if err := s.deleteMsg(ctx, m.Sequence); err != nil {
		return false, err
	}
	return true, nil
}

// republish stores msg under Nats-Msg-Id id. When the ID is still in the
// duplicate window as the old message itself (oldSeq), the publish would
// be dropped as its duplicate, so it is stored under id+movedIDSuffix
// (still shared by concurrent movers). A duplicate of another sequence is
// the new message a concurrent mover stored.
func (s *Store) republish(ctx context.Context, msg *nats.Msg, id string, oldSeq uint64) error {
	ack, err := s.res.JS.PublishMsg(ctx, msg, jetstream.WithMsgID(id))
	if err == nil && ack.Duplicate && ack.Sequence == oldSeq {
		_, err = s.res.JS.PublishMsg(ctx, msg, jetstream.WithMsgID(id+movedIDSuffix))
	}
	if err != nil {
		return fmt.Errorf("republish job %s on %s: %w", id, msg.Subject, err)
	}
	return nil
}

func (s *Store) deleteMsg(ctx context.Context, seq uint64) error {
	err := s.res.Jobs.DeleteMsg(ctx, seq)
	if err == nil {
		return nil
	}
	// A concurrent mover deleted it first: done.
	if _, gerr := s.res.Jobs.GetMsg(ctx, seq); errors.Is(gerr, jetstream.ErrMsgNotFound) {
		return nil
	}
	return fmt.Errorf("delete moved message seq %d: %w", seq, err)
}

// copyHeader copies a stored message's headers for republishing, without
// the ones JetStream sets or judges per publish.
func copyHeader(h nats.Header) nats.Header {
	out := make(nats.Header, len(h))
	for k, v := range h {
		if k == jetstream.MsgIDHeader || strings.HasPrefix(k, "Nats-Expected") {
			continue
		}
		out[k] = append([]string(nil), v...)
	}
	return out
}
