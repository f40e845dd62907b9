package jobs

// Ordered processing (Ordering-Key, "exactly once in order").
//
// The jobs of one (client, flow, ordering key) form a sequence. A cursor in
// the cpib-seq bucket names its head, the one job of the key that is
// queued or running, and is written only by compare-and-set; the writer
// that wins the write is the only one that enqueues the head. A job
// accepted while its key is idle becomes the head at once and is queued
// like any job (the fast path: one cursor write more than an unordered
// job). A job accepted while its key has a head waits on the SEQ stream,
// under the key's subject (cpib.seq.<client>.<flow>.<keyhash>), in the
// order its 202 was given. SEQ has no consumers: it is read by direct get,
// so ten thousand keys cost no consumer. Queued heads go through quotas,
// fairness and breakers like any job.
//
// A key is idle when its cursor is idle, absent, or active with a head
// that ended without blocking the key: the end of a head with nothing
// waiting behind it writes no cursor, so a key with steady traffic writes
// its cursor once per job (the claim of its next job), not twice.
//
//	accept:  key idle, nothing waiting? CAS cursor → head = this job ─▶ queue it
//	         else append to SEQ (+ record) ─▶ key idle now? take the first waiting job
//	end:     head terminal ─▶ failed and on_failure block? cursor blocked
//	                        └▶ else the first live SEQ message after last_seq:
//	                           CAS cursor → head ─▶ queue it; none: leave the cursor as it is
//
// Invariant: a job is queued only by the writer whose compare-and-set made
// it the head, and only when every earlier job of its key has ended, so at
// most one job of a key is queued or running and they run in order. The
// end of a head looks at SEQ after its terminal record is written, and a
// job appended to SEQ looks at its key's head after its message is
// stored, so one of the two sees the other: a waiting job is never left
// behind a head that ended. A crash between a cursor write and the queue
// publish, or between a head's end and its cursor write, is repaired by
// RepairSequences and RepairHeads (the queue publish is de-duplicated by
// the job ID); RepairHeads also sets idle the cursors of heads that ended
// longer than its grace ago. A passed job's SEQ message is deleted, so SEQ
// holds only the keys' pending work.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Waiting reasons of ordered jobs.
const (
	// WaitSequence: a job with an Ordering-Key waits for the job before it
	// (Waiting.Job) to end.
	WaitSequence = "sequence"
	// WaitSequenceBlocked: the key's head (Waiting.Job) failed under
	// on_failure block; an operator skips or replays it.
	WaitSequenceBlocked = "sequence_blocked"
)

// Sequence states as the admin API shows them.
const (
	SequenceActive  = "active"
	SequenceBlocked = "blocked"
)

// HeaderOrderingKey carries the ordering key on a SEQ message.
const HeaderOrderingKey = "Ordering-Key"

// MaxOrderingKey is the longest Ordering-Key accepted.
const MaxOrderingKey = 128

// Errors of the sequence operations.
var (
	// ErrSequenceNotFound: no cursor with that ID (the key has nothing
	// queued or running).
	ErrSequenceNotFound = errors.New("sequence not found")
	// ErrSequenceNotBlocked: skip and replay apply to blocked sequences.
	ErrSequenceNotBlocked = errors.New("sequence is not blocked")
	// ErrHeadGone: the blocked head's message is no longer stored; it can
	// be skipped, not replayed.
	ErrHeadGone = errors.New("the failed job's message is no longer stored; skip it instead")
)

// ValidOrderingKey reports whether k is 1-128 visible ASCII characters.
func ValidOrderingKey(k string) bool {
	if len(k) < 1 || len(k) > MaxOrderingKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// sequenceOf names the sequence of an ordered record or job.
func sequenceOf(client, flow, key string) string { return natsx.SequenceID(client, flow, key) }

// ValidSequenceID reports whether id has the shape of a sequence ID
// (<client>.<flow>.<16 hex digits>), so it is safe as a KV key.
func ValidSequenceID(id string) bool {
	parts := strings.Split(id, ".")
	if len(parts) != 3 || len(parts[2]) != 16 || !validToken(parts[0]) || !validToken(parts[1]) {
		return false
	}
	for _, c := range parts[2] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func validToken(s string) bool {
	if len(s) < 1 || len(s) > 63 || s[0] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// publishOrdered stores an ordered job: if its key is idle, the job
// becomes its head and is queued like any job (head: true); otherwise its
// message is appended to its key's SEQ subject and its record written (see
// appendOrdered), and it waits for the jobs before it.
func (s *Store) publishOrdered(ctx context.Context, job *cpibv1.Job, rec *cpibv1.JobRecord, trace nats.Header) (head bool, err error) {
	rec.OrderingKey = job.GetOrderingKey()
	pctx, cancel := context.WithTimeout(ctx, s.cfg.StoreTimeout)
	defer cancel()
	id := sequenceOf(job.GetClient(), job.GetFlow(), job.GetOrderingKey())
	if claimed, err := s.claimIdle(pctx, id, job); err != nil {
		return false, err
	} else if claimed {
		// The head at once: queued like any job. Not stored: the claim is
		// given up (the key's next job, if any, becomes the head).
		if err := s.publish(ctx, job, trace); err != nil {
			if !errors.Is(err, ErrUnconfirmed) {
				if rerr := s.giveUpHead(context.WithoutCancel(pctx), id, job.GetId()); rerr != nil {
					s.log().Warn("jobs: sequence claim of an unstored job not given up; the repair pass does it", "sequence", id, "err", rerr)
				}
			}
			return false, err
		}
		return true, nil
	}
	return false, s.appendOrdered(pctx, ctx, id, job, rec, trace)
}

// claimIdle makes job the head of sequence id if the key is idle (no
// cursor, an idle one, or an active one whose head ended without blocking
// the key) and no job of the key waits on SEQ; it reports whether it did.
// A compare-and-set conflict (another job claimed it, or the sequence
// moved) reports false: the job then waits on SEQ.
func (s *Store) claimIdle(ctx context.Context, id string, job *cpibv1.Job) (bool, error) {
	if e, ok := s.cursors.get(id); ok && e.idle() {
		// The key was idle when this process last wrote or read it (or
		// saw its head end with nothing behind it): claim it at that
		// revision and, at the same time, look for a job of the key
		// waiting on SEQ. A stale revision fails the write; a waiting job
		// takes the claim back (the claimed job is not queued yet, so
		// nothing ran out of order).
		var last uint64
		var lastErr error
		read := make(chan struct{})
		go func() {
			defer close(read)
			last, lastErr = s.lastOnSeq(ctx, id)
		}()
		err := s.putCursor(ctx, id, s.claim(job, e.c), e.rev)
		<-read
		switch {
		case errors.Is(err, ErrConflict):
			// Stale: decide again from a fresh read below.
		case err != nil:
			return false, err
		case lastErr == nil && last <= passed(e.c):
			return true, nil
		default:
			if gerr := s.giveUpHead(ctx, id, job.GetId()); gerr != nil {
				return false, gerr
			}
			return false, lastErr
		}
	}
	// Two reads at once: the cursor, and the key's last SEQ message (a
	// direct get by the subject index). Both are read after this submit
	// began, so a job of the key whose 202 came before is seen by one.
	var (
		last    uint64
		lastErr error
		read    = make(chan struct{})
	)
	go func() {
		defer close(read)
		last, lastErr = s.lastOnSeq(ctx, id)
	}()
	c, rev, err := s.cursor(ctx, id)
	<-read
	if err == nil {
		err = lastErr
	}
	if err != nil {
		return false, err
	}
	if c.GetHead() == job.GetId() {
		return true, nil // its own claim, from a try whose message was lost (Idempotency-Key retry)
	}
	if c != nil && c.GetState() != cpibv1.SequenceState_SEQUENCE_STATE_IDLE {
		if ended, err := s.headEnded(ctx, c); err != nil || !ended {
			return false, err
		}
	}
	if last > passed(c) {
		// A job of the key waits on SEQ (or one that ended there is not
		// deleted yet): this one goes behind it.
		return false, nil
	}
	err = s.putCursor(ctx, id, s.claim(job, c), rev)
	if errors.Is(err, ErrConflict) {
		return false, nil
	}
	return err == nil, err
}

// headEnded reports whether the head of the active cursor c ended without
// blocking its key: the key is then idle although its cursor still names
// the head (the end of a head with nothing waiting writes no cursor; see
// moveTo). A blocked cursor, or a head that is not stored, reports false.
func (s *Store) headEnded(ctx context.Context, c *cpibv1.SequenceCursor) (bool, error) {
	if c.GetState() != cpibv1.SequenceState_SEQUENCE_STATE_ACTIVE {
		return false, nil
	}
	rec, _, err := s.Get(ctx, c.GetHead())
	switch {
	case errors.Is(err, ErrNotFound):
		return false, nil // a claim whose submit is under way (or failed: the repair pass gives it up)
	case err != nil:
		return false, err
	}
	return Terminal(rec.GetStatus()) && !s.blocks(rec), nil
}

// passed is the last SEQ sequence the cursor c is past: its head's
// message and every one before it (0 for none).
func passed(c *cpibv1.SequenceCursor) uint64 { return max(c.GetLastSeq(), c.GetHeadSeq()) }

// claim is the cursor that makes job the head of an idle key (c: its
// idle cursor, an active one whose head ended, or nil).
func (s *Store) claim(job *cpibv1.Job, c *cpibv1.SequenceCursor) *cpibv1.SequenceCursor {
	return &cpibv1.SequenceCursor{
		Client: job.GetClient(), Flow: job.GetFlow(), Key: job.GetOrderingKey(), Head: job.GetId(),
		State: cpibv1.SequenceState_SEQUENCE_STATE_ACTIVE, Since: timestamppb.New(s.cfg.Now()), LastSeq: passed(c),
	}
}

// lastOnSeq is the sequence of the key's last message on SEQ, 0 if none.
func (s *Store) lastOnSeq(ctx context.Context, id string) (uint64, error) {
	m, err := s.res.Seq.GetLastMsgForSubject(ctx, natsx.SequenceSubject(id))
	switch {
	case err == nil:
		return m.Sequence, nil
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return 0, nil
	}
	return 0, fmt.Errorf("%w: read sequence %s: %w", ErrUnavailable, id, err)
}

// giveUpHead gives up the head of sequence id held by jobID (a job that
// was never stored, or that ended long ago): the sequence moves on as if
// it had ended, and its cursor goes idle when nothing waits.
func (s *Store) giveUpHead(ctx context.Context, id, jobID string) error {
	for i := 0; i < 16; i++ {
		c, rev, err := s.cursor(ctx, id)
		if err != nil || c == nil || c.GetHead() != jobID {
			return err
		}
		if err = s.moveTo(ctx, id, c, rev, false); !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return ErrConflict
}

// appendOrdered stores an ordered job whose key has a head: its message
// appended to the key's SEQ subject and its record, written in parallel
// (the record carries the waiting state a partner reads). Then, if the key
// went idle meanwhile, its first waiting job becomes the head.
func (s *Store) appendOrdered(pctx, ctx context.Context, id string, job *cpibv1.Job, rec *cpibv1.JobRecord, trace nats.Header) error {
	jb, err := proto.Marshal(job)
	if err != nil {
		return fmt.Errorf("jobs: encode job: %w", err)
	}
	rb, err := proto.Marshal(rec)
	if err != nil {
		return fmt.Errorf("jobs: encode record: %w", err)
	}
	msg := &nats.Msg{Subject: natsx.SequenceSubject(id), Data: jb, Header: nats.Header{}}
	for k, v := range trace {
		msg.Header[k] = v
	}
	msg.Header.Set(HeaderOrderingKey, job.GetOrderingKey())
	fault := s.fault(msg.Subject)
	var msgAck jetstream.PubAckFuture
	if fault != LoseMessage {
		if msgAck, err = s.res.JS.PublishMsgAsync(msg, jetstream.WithMsgID(job.GetId())); err != nil {
			s.dropObject(ctx, job.GetPayloadObject())
			return fmt.Errorf("%w: publish job: %w", ErrUnavailable, err)
		}
	}
	recMsg := &nats.Msg{Subject: "$KV." + natsx.BucketJobs + "." + job.GetId(), Data: rb}
	recAck, recErr := s.res.JS.PublishMsgAsync(recMsg, jetstream.WithExpectLastSequencePerSubject(0))
	msgErr := error(errLost)
	if msgAck != nil {
		_, msgErr = awaitAck(pctx, msgAck, s.cfg.StoreTimeout)
	}
	if fault != NoFault && msgErr == nil {
		msgErr = errLost
	}
	if recErr == nil {
		_, recErr = awaitAck(pctx, recAck, s.cfg.StoreTimeout)
	}
	if isWrongLastSeq(recErr) {
		if _, _, err := s.Get(pctx, job.GetId()); err == nil {
			recErr = nil // the sequence started it and its dispatcher wrote it
		}
	}
	switch {
	case msgErr != nil && !refused(msgErr):
		// The message may be stored: keep the record (see publish).
		return fmt.Errorf("%w: %w: publish job: %w", ErrUnavailable, ErrUnconfirmed, msgErr)
	case msgErr != nil:
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		if recErr == nil {
			_ = s.res.Records.Purge(dctx, job.GetId())
		}
		if job.GetPayloadObject() != "" {
			_ = s.res.Payloads.Delete(dctx, job.GetPayloadObject())
		}
		cancel()
		return fmt.Errorf("%w: publish job: %w", ErrUnavailable, msgErr)
	case recErr != nil:
		if _, err := s.create(pctx, rec); err != nil && !errors.Is(err, ErrConflict) {
			return fmt.Errorf("%w: record job %s (in its sequence): %w", ErrUnavailable, job.GetId(), err)
		}
	}
	// Stored. Starting the sequence may fail (JetStream trouble); the
	// repair pass starts it then, so the 202 stands.
	if err := s.kick(pctx, id); err != nil {
		s.log().Warn("jobs: sequence not started yet; the repair pass starts it", "sequence", id, "job_id", job.GetId(), "err", err)
	}
	return nil
}

// proveSequenced is proveQueued for an ordered job: its message is
// appended to its SEQ subject once more under its ID (a duplicate stores
// nothing), and its sequence is started if it has no head.
func (s *Store) proveSequenced(ctx context.Context, job *cpibv1.Job, trace nats.Header) error {
	jb, err := proto.Marshal(job)
	if err != nil {
		return fmt.Errorf("jobs: encode job: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, s.cfg.StoreTimeout)
	defer cancel()
	id := sequenceOf(job.GetClient(), job.GetFlow(), job.GetOrderingKey())
	if c, _, err := s.cursor(pctx, id); err != nil {
		return err
	} else if c.GetHead() == job.GetId() {
		return nil // the head (queued at once, or taken from SEQ): it ran or runs
	}
	msg := &nats.Msg{Subject: natsx.SequenceSubject(id), Data: jb, Header: nats.Header{}}
	for k, v := range trace {
		msg.Header[k] = v
	}
	msg.Header.Set(HeaderOrderingKey, job.GetOrderingKey())
	if _, err := s.publishJob(pctx, msg, job.GetId()); err != nil {
		return fmt.Errorf("%w: %w: publish job: %w", ErrUnavailable, ErrUnconfirmed, err)
	}
	return s.kick(pctx, id)
}

// cursor reads the cursor of a sequence: nil (revision 0) when the key has
// no head.
func (s *Store) cursor(ctx context.Context, id string) (*cpibv1.SequenceCursor, uint64, error) {
	e, err := s.res.Cursors.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		s.cursors.forget(id)
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%w: read sequence %s: %w", ErrUnavailable, id, err)
	}
	c := &cpibv1.SequenceCursor{}
	if err := proto.Unmarshal(e.Value(), c); err != nil {
		return nil, 0, fmt.Errorf("jobs: decode sequence %s: %w", id, err)
	}
	s.cursors.put(id, c, e.Revision())
	return c, e.Revision(), nil
}

// putCursor writes a cursor by compare-and-set (rev 0: it must not exist).
// ErrConflict when someone else wrote first.
func (s *Store) putCursor(ctx context.Context, id string, c *cpibv1.SequenceCursor, rev uint64) error {
	b, err := proto.Marshal(c)
	if err != nil {
		return fmt.Errorf("jobs: encode sequence: %w", err)
	}
	var n uint64
	if rev == 0 {
		n, err = s.res.Cursors.Create(ctx, id, b)
	} else {
		n, err = s.res.Cursors.Update(ctx, id, b, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		s.cursors.forget(id)
		return ErrConflict
	}
	if err != nil {
		s.cursors.forget(id)
		return fmt.Errorf("%w: write sequence %s: %w", ErrUnavailable, id, err)
	}
	s.cursors.put(id, c, n)
	return nil
}

// kick starts a sequence that has no head: its first live job becomes the
// head. It does nothing when the sequence has one. A head that ended with
// nothing waiting leaves its cursor as it was (see moveTo), so an active
// cursor whose head ended counts as no head: the sequence is moved on from
// it, as the end of the head would have done had it seen the job just
// appended.
func (s *Store) kick(ctx context.Context, id string) error {
	for i := 0; i < 16; i++ {
		c, rev, err := s.cursor(ctx, id)
		switch {
		case err != nil:
			return err
		case c == nil || c.GetState() == cpibv1.SequenceState_SEQUENCE_STATE_IDLE:
			err = s.moveTo(ctx, id, c, rev, false)
		case c.GetState() == cpibv1.SequenceState_SEQUENCE_STATE_ACTIVE:
			rec, _, gerr := s.Get(ctx, c.GetHead())
			if errors.Is(gerr, ErrNotFound) || gerr == nil && !Terminal(rec.GetStatus()) {
				return nil // it runs (or its submit is under way); its end moves the sequence on
			}
			if gerr != nil {
				return gerr
			}
			if s.handovers.leave(id) {
				// An end of this key is under way in this process: it
				// looks at SEQ after this mark (or starts the key when it
				// finishes), so it sees the job just appended.
				return nil
			}
			return s.endedAt(ctx, id, rec, c, rev)
		default:
			return nil // blocked
		}
		if !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return ErrConflict
}

// live is the first message of a sequence from seq on whose job has not
// ended: its job and stream sequence, or nil when there is none. Messages
// of jobs that ended (canceled or expired while they waited, or a head the
// cursor moved past) are deleted on the way.
func (s *Store) live(ctx context.Context, id string, from uint64) (*cpibv1.Job, *jetstream.RawStreamMsg, error) {
	subj := natsx.SequenceSubject(id)
	for seq := from; ; {
		m, err := s.res.Seq.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, nil, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: read sequence %s: %w", ErrUnavailable, id, err)
		}
		seq = m.Sequence + 1
		job := &cpibv1.Job{}
		if err := proto.Unmarshal(m.Data, job); err != nil || job.GetId() == "" {
			s.log().Error("jobs: undecodable message in a sequence; skipped", "sequence", id, "seq", m.Sequence, "err", err)
			s.dropSeq(ctx, m.Sequence)
			continue
		}
		rec, _, err := s.record(ctx, job.GetId())
		switch {
		case errors.Is(err, ErrNotFound):
			// Its submit's record write is still in flight, or was lost:
			// the dispatcher writes it from the message.
			return job, m, nil
		case err != nil:
			return nil, nil, err
		case Terminal(rec.GetStatus()):
			s.dropSeq(ctx, m.Sequence)
			continue
		}
		return job, m, nil
	}
}

// moveTo makes the first live job after the cursor's last_seq the head of
// sequence id, whose cursor is cur at rev (nil, 0: none): the cursor is
// written by compare-and-set, then the winner enqueues the job.
//
// Without a live job: if keep and cur is active (its head ended and did
// not block the key), the cursor is left as it is, naming the ended head.
// A key with steady traffic so writes its cursor once per job, at the
// claim of its next job, instead of twice. This is safe because every
// reader that looks for a head treats an active cursor whose head ended as
// idle (claimIdle, kick), and a job appended to SEQ after this look
// finds the head ended when its submit kicks the sequence (the head's
// terminal record was written before this look began). Otherwise the
// cursor goes idle, and the sequence is looked at once more, so a job
// appended while the cursor went idle is not left without a head.
//
// ErrConflict when the cursor changed meanwhile (the caller decides
// again).
func (s *Store) moveTo(ctx context.Context, id string, cur *cpibv1.SequenceCursor, rev uint64, keep bool) error {
	if keep {
		s.handovers.appended(id) // a job left to this end before this look is seen by it
	}
	job, m, err := s.live(ctx, id, passed(cur)+1)
	if err != nil {
		return err
	}
	now := timestamppb.New(s.cfg.Now())
	if job == nil {
		if cur == nil || cur.GetState() == cpibv1.SequenceState_SEQUENCE_STATE_IDLE {
			return nil
		}
		if keep && cur.GetState() == cpibv1.SequenceState_SEQUENCE_STATE_ACTIVE {
			if s.handovers.appended(id) {
				return s.moveTo(ctx, id, cur, rev, keep) // a job was left to this end during the look
			}
			s.cursors.ended(id, cur, rev)
			s.dropSeq(ctx, cur.GetHeadSeq())
			return nil
		}
		idle := &cpibv1.SequenceCursor{Client: cur.GetClient(), Flow: cur.GetFlow(), Key: cur.GetKey(),
			State: cpibv1.SequenceState_SEQUENCE_STATE_IDLE, Since: now, LastSeq: passed(cur)}
		if err := s.putCursor(ctx, id, idle, rev); err != nil {
			return err
		}
		s.dropSeq(ctx, cur.GetHeadSeq())
		s.dropSeq(ctx, cur.GetHeldSeq())
		return s.kick(ctx, id)
	}
	next := &cpibv1.SequenceCursor{
		Client: job.GetClient(), Flow: job.GetFlow(), Key: job.GetOrderingKey(),
		Head: job.GetId(), HeadSeq: m.Sequence, State: cpibv1.SequenceState_SEQUENCE_STATE_ACTIVE,
		Since: now, LastSeq: m.Sequence - 1,
	}
	if err := s.putCursor(ctx, id, next, rev); err != nil {
		return err
	}
	s.dropSeq(ctx, cur.GetHeadSeq())
	s.dropSeq(ctx, cur.GetHeldSeq())
	if err := s.enqueue(ctx, job, m.Header); err != nil {
		return err // the repair pass enqueues it
	}
	// The new head may have ended already (a run replayed before, or a
	// job canceled after live looked at it): move on from it.
	if rec, _, err := s.Get(ctx, job.GetId()); err == nil && Terminal(rec.GetStatus()) {
		return s.ended(ctx, id, rec, false)
	}
	return nil
}

// enqueue publishes the head of a sequence to its (client, flow) queue,
// under its job ID (Nats-Msg-Id), with the trace headers it was accepted
// with.
func (s *Store) enqueue(ctx context.Context, job *cpibv1.Job, h nats.Header) error {
	if err := s.queues.ensure(ctx, job.GetClient(), job.GetFlow()); err != nil {
		return fmt.Errorf("%w: queue consumer: %w", ErrUnavailable, err)
	}
	b, err := proto.Marshal(job)
	if err != nil {
		return fmt.Errorf("jobs: encode job: %w", err)
	}
	msg := &nats.Msg{Subject: natsx.QueueSubject(job.GetClient(), job.GetFlow(), job.GetId()), Data: b, Header: nats.Header{}}
	for k, v := range h {
		if strings.HasPrefix(k, "Nats-") || k == HeaderOrderingKey {
			continue
		}
		msg.Header[k] = v
	}
	if _, err := s.publishJob(ctx, msg, job.GetId()); err != nil {
		return fmt.Errorf("%w: enqueue job %s: %w", ErrUnavailable, job.GetId(), err)
	}
	return nil
}

// dropSeq deletes a SEQ message the sequence moved past (best effort: the
// next reader skips it again and MaxAge removes it at last).
func (s *Store) dropSeq(ctx context.Context, seq uint64) {
	if seq == 0 {
		return
	}
	if err := s.res.Seq.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		s.log().Debug("jobs: sequence message not deleted", "seq", seq, "err", err)
	}
}

// blocks reports whether a terminal record stops its sequence: it failed
// while running (CPI refused it, or its attempts ran out) and its flow's
// on_failure is block. Expired, canceled and succeeded jobs release the
// next one.
func (s *Store) blocks(rec *cpibv1.JobRecord) bool {
	if rec.GetStatus() != cpibv1.JobStatus_JOB_STATUS_FAILED {
		return false
	}
	switch rec.GetError().GetCode() {
	case CodeCPIError, CodeAttemptsExhausted:
		return s.cfg.BlockOnFailure(rec.GetFlow())
	}
	return false
}

// sequenceEnded moves the sequence of a terminal ordered record on (Apply
// calls it after every terminal transition): if rec is its key's head, the
// key blocks (rec failed under on_failure block) or its next job becomes
// the head. A record that is not the head (a waiting job canceled or
// expired) is skipped when the sequence reaches it. Errors are left to the
// repair pass.
func (s *Store) sequenceEnded(ctx context.Context, rec *cpibv1.JobRecord) {
	if rec.GetOrderingKey() == "" || !Terminal(rec.GetStatus()) {
		return
	}
	id := sequenceOf(rec.GetClient(), rec.GetFlow(), rec.GetOrderingKey())
	if err := s.ended(ctx, id, rec, true); err != nil {
		s.log().Warn("jobs: sequence not moved on yet; the repair pass does it", "sequence", id, "job_id", rec.GetId(), "err", err)
	}
}

// ended moves sequence id on after its head rec ended (see
// sequenceEnded). cached: start from the cursor this process last wrote
// or read if it names rec as the head (the claim or move that made rec the
// head, usually), instead of reading it. A stale cursor costs a
// compare-and-set conflict and a read, or, when nothing waits, nothing:
// the cursor is not written then (see moveTo), and a cursor that moved
// past rec is not rec's to move.
func (s *Store) ended(ctx context.Context, id string, rec *cpibv1.JobRecord, cached bool) error {
	if e, ok := s.cursors.get(id); cached && ok && e.c.GetHead() == rec.GetId() {
		if err := s.endedAt(ctx, id, rec, e.c, e.rev); !errors.Is(err, ErrConflict) {
			return err
		}
	}
	for i := 0; i < 16; i++ {
		c, rev, err := s.cursor(ctx, id)
		if err != nil {
			return err
		}
		if err = s.endedAt(ctx, id, rec, c, rev); !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return ErrConflict
}

// handoverDone finishes an end of a job of sequence id under way (see
// handovers): a job appended meanwhile and left to it, but not seen by a
// look at SEQ, is started now.
func (s *Store) handoverDone(ctx context.Context, id string) {
	if !s.handovers.finish(id) {
		return
	}
	if err := s.kick(context.WithoutCancel(ctx), id); err != nil {
		s.log().Warn("jobs: sequence not started yet; the repair pass starts it", "sequence", id, "err", err)
	}
}

// endedAt is one try of ended from cursor c at rev: ErrConflict when the
// cursor changed meanwhile.
func (s *Store) endedAt(ctx context.Context, id string, rec *cpibv1.JobRecord, c *cpibv1.SequenceCursor, rev uint64) error {
	if c == nil || c.GetHead() != rec.GetId() {
		return nil // not the head: moved on already, or skipped when reached
	}
	if !s.blocks(rec) {
		return s.moveTo(ctx, id, c, rev, true)
	}
	if c.GetState() == cpibv1.SequenceState_SEQUENCE_STATE_BLOCKED {
		return nil
	}
	b := proto.CloneOf(c)
	b.State, b.Since = cpibv1.SequenceState_SEQUENCE_STATE_BLOCKED, timestamppb.New(s.cfg.Now())
	if b.GetHeadSeq() == 0 && b.GetHeldSeq() == 0 {
		b.HeldSeq = s.hold(ctx, id, rec)
	}
	return s.putCursor(ctx, id, b, rev)
}

// hold keeps the message of a head that failed before it was ever on SEQ
// (it was queued at once), so a replay can run it again: the message is
// still in the queue while its failure is written (the dispatcher acks it
// afterwards), and is copied to the key's ".held" subject on SEQ. It
// returns the copy's sequence, 0 if the message is gone.
func (s *Store) hold(ctx context.Context, id string, rec *cpibv1.JobRecord) uint64 {
	var m *jetstream.RawStreamMsg
	for _, subj := range []string{
		natsx.QueueSubject(rec.GetClient(), rec.GetFlow(), rec.GetId()),
		natsx.RetrySubject(rec.GetClient(), rec.GetFlow(), rec.GetId()),
	} {
		if got, err := s.res.Jobs.GetLastMsgForSubject(ctx, subj); err == nil {
			m = got
			break
		}
	}
	if m == nil {
		s.log().Warn("jobs: blocked head's message is gone; it can be skipped, not replayed", "sequence", id, "job_id", rec.GetId())
		return 0
	}
	msg := &nats.Msg{Subject: natsx.SequenceSubject(id) + ".held", Data: m.Data, Header: nats.Header{}}
	for k, v := range m.Header {
		if !strings.HasPrefix(k, "Nats-") {
			msg.Header[k] = v
		}
	}
	ack, err := s.publishJob(ctx, msg, fmt.Sprintf("held.%s.%d", rec.GetId(), rec.GetRun()))
	if err != nil {
		s.log().Warn("jobs: blocked head's message not kept; it can be skipped, not replayed", "sequence", id, "job_id", rec.GetId(), "err", err)
		return 0
	}
	return ack.Sequence
}

// headJob reads the message of a sequence's head from SEQ.
func (s *Store) headJob(ctx context.Context, c *cpibv1.SequenceCursor) (*cpibv1.Job, error) {
	seq := c.GetHeadSeq()
	if seq == 0 {
		seq = c.GetHeldSeq()
	}
	if seq == 0 {
		return nil, ErrHeadGone
	}
	m, err := s.res.Seq.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, ErrHeadGone
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read sequence head: %w", ErrUnavailable, err)
	}
	job := &cpibv1.Job{}
	if err := proto.Unmarshal(m.Data, job); err != nil || job.GetId() != c.GetHead() {
		return nil, fmt.Errorf("jobs: sequence head message does not hold job %s", c.GetHead())
	}
	return job, nil
}

// Sequence is a sequence as the admin API shows it.
type Sequence struct {
	ID     string `json:"id"`
	Client string `json:"client"`
	Flow   string `json:"flow"`
	Key    string `json:"key"`
	State  string `json:"state"`
	// Head is the job that runs (active) or failed (blocked).
	Head  string `json:"head"`
	Since string `json:"since,omitempty"`
	// HeadStatus and HeadError describe the head job now.
	HeadStatus string         `json:"head_status,omitempty"`
	HeadError  *ErrorResource `json:"head_error,omitempty"`
}

func stateName(st cpibv1.SequenceState) string {
	if st == cpibv1.SequenceState_SEQUENCE_STATE_BLOCKED {
		return SequenceBlocked
	}
	return SequenceActive
}

func (s *Store) describe(ctx context.Context, id string, c *cpibv1.SequenceCursor) Sequence {
	q, _ := s.view(ctx, id, c)
	return q
}

// view describes the sequence of a cursor that is not idle, and reports
// whether its key has anything queued, running or waiting: false for an
// active cursor whose head ended (without blocking the key) with nothing
// waiting behind it, which is how the end of a head leaves its cursor
// (see moveTo).
func (s *Store) view(ctx context.Context, id string, c *cpibv1.SequenceCursor) (Sequence, bool) {
	q := Sequence{ID: id, Client: c.GetClient(), Flow: c.GetFlow(), Key: c.GetKey(), State: stateName(c.GetState()),
		Head: c.GetHead(), Since: stamp(c.GetSince())}
	rec, _, err := s.Get(ctx, c.GetHead())
	if err != nil {
		return q, true
	}
	q.HeadStatus = StatusName(rec.GetStatus())
	if e := rec.GetError(); e != nil {
		q.HeadError = &ErrorResource{Code: e.GetCode(), Message: e.GetMessage(), StatusCode: e.GetStatusCode()}
	}
	if c.GetState() == cpibv1.SequenceState_SEQUENCE_STATE_ACTIVE && Terminal(rec.GetStatus()) && !s.blocks(rec) {
		// The head ended: the sequence shows while jobs wait behind it.
		if last, err := s.lastOnSeq(ctx, id); err == nil && last <= passed(c) {
			return q, false
		}
	}
	return q, true
}

// GetSequence returns one sequence. ErrSequenceNotFound when its key has
// nothing queued or running.
func (s *Store) GetSequence(ctx context.Context, id string) (Sequence, error) {
	if !ValidSequenceID(id) {
		return Sequence{}, ErrSequenceNotFound
	}
	c, _, err := s.cursor(ctx, id)
	if err != nil {
		return Sequence{}, err
	}
	if c == nil || c.GetState() == cpibv1.SequenceState_SEQUENCE_STATE_IDLE {
		return Sequence{}, ErrSequenceNotFound
	}
	q, ok := s.view(ctx, id, c)
	if !ok {
		return Sequence{}, ErrSequenceNotFound
	}
	return q, nil
}

// SequenceFilter selects sequences to list. Empty fields select all.
type SequenceFilter struct {
	State, Client, Flow string
}

const cursorSubjects = "$KV." + natsx.BucketSeq + "."

// ListSequences returns up to limit sequences matching f, from the cursor
// bucket's stream after sequence after, and where the next page starts (0
// at the end).
func (s *Store) ListSequences(ctx context.Context, f SequenceFilter, after uint64, limit int) ([]Sequence, uint64, error) {
	filter := cursorSubjects + ">"
	switch {
	case f.Client != "" && f.Flow != "":
		filter = cursorSubjects + f.Client + "." + f.Flow + ".*"
	case f.Client != "":
		filter = cursorSubjects + f.Client + ".>"
	case f.Flow != "":
		filter = cursorSubjects + "*." + f.Flow + ".*"
	}
	st, err := s.res.JS.Stream(ctx, "KV_"+natsx.BucketSeq)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: sequence bucket: %w", ErrUnavailable, err)
	}
	var out []Sequence
	for seq := after + 1; ; {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, 0, nil
		}
		if err != nil {
			return out, 0, fmt.Errorf("%w: read sequences: %w", ErrUnavailable, err)
		}
		seq = m.Sequence + 1
		if m.Header.Get("KV-Operation") != "" {
			continue
		}
		c := &cpibv1.SequenceCursor{}
		if proto.Unmarshal(m.Data, c) != nil || c.GetState() == cpibv1.SequenceState_SEQUENCE_STATE_IDLE {
			continue
		}
		if f.State != "" && stateName(c.GetState()) != f.State {
			continue
		}
		q, ok := s.view(ctx, strings.TrimPrefix(m.Subject, cursorSubjects), c)
		if !ok {
			continue // its head ended with nothing behind it: idle
		}
		out = append(out, q)
		if len(out) >= limit {
			return out, m.Sequence, nil
		}
	}
}

// BlockedSequences counts the blocked sequences (the /metrics gauge).
func (s *Store) BlockedSequences(ctx context.Context) (int, error) {
	st, err := s.res.JS.Stream(ctx, "KV_"+natsx.BucketSeq)
	if err != nil {
		return 0, fmt.Errorf("%w: sequence bucket: %w", ErrUnavailable, err)
	}
	n := 0
	for seq := uint64(1); ; {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(cursorSubjects+">"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("%w: read sequences: %w", ErrUnavailable, err)
		}
		seq = m.Sequence + 1
		c := &cpibv1.SequenceCursor{}
		if m.Header.Get("KV-Operation") == "" && proto.Unmarshal(m.Data, c) == nil &&
			c.GetState() == cpibv1.SequenceState_SEQUENCE_STATE_BLOCKED {
			n++
		}
	}
}

// notBlocked is the answer of skip and replay for an active cursor:
// ErrSequenceNotBlocked, or ErrSequenceNotFound when its key is idle.
func (s *Store) notBlocked(ctx context.Context, id string, c *cpibv1.SequenceCursor) (Sequence, error) {
	q, ok := s.view(ctx, id, c)
	if !ok {
		return Sequence{}, ErrSequenceNotFound
	}
	return q, ErrSequenceNotBlocked
}

// SkipSequence releases a blocked sequence: its failed head stays failed
// and the next job of the key becomes the head.
func (s *Store) SkipSequence(ctx context.Context, id string) (Sequence, error) {
	if !ValidSequenceID(id) {
		return Sequence{}, ErrSequenceNotFound
	}
	for i := 0; i < 16; i++ {
		c, rev, err := s.cursor(ctx, id)
		if err != nil {
			return Sequence{}, err
		}
		if c == nil || c.GetState() == cpibv1.SequenceState_SEQUENCE_STATE_IDLE {
			return Sequence{}, ErrSequenceNotFound
		}
		if c.GetState() != cpibv1.SequenceState_SEQUENCE_STATE_BLOCKED {
			return s.notBlocked(ctx, id, c)
		}
		err = s.moveTo(ctx, id, c, rev, false)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return Sequence{}, err
		}
		q, err := s.GetSequence(ctx, id)
		if errors.Is(err, ErrSequenceNotFound) {
			return Sequence{ID: id, Client: c.GetClient(), Flow: c.GetFlow(), Key: c.GetKey()}, nil // nothing left
		}
		return q, err
	}
	return Sequence{}, ErrConflict
}

// ReplaySequence starts a new run of a blocked sequence's failed head (the
// replay transition, run+1) as the head again: the jobs behind it keep
// waiting until it ends. It returns why it was not replayed, or "".
func (s *Store) ReplaySequence(ctx context.Context, id string) (Sequence, string, error) {
	if !ValidSequenceID(id) {
		return Sequence{}, "", ErrSequenceNotFound
	}
	c, _, err := s.cursor(ctx, id)
	if err != nil {
		return Sequence{}, "", err
	}
	if c == nil || c.GetState() == cpibv1.SequenceState_SEQUENCE_STATE_IDLE {
		return Sequence{}, "", ErrSequenceNotFound
	}
	if c.GetState() != cpibv1.SequenceState_SEQUENCE_STATE_BLOCKED {
		q, err := s.notBlocked(ctx, id, c)
		return q, "", err
	}
	job, err := s.headJob(ctx, c)
	if errors.Is(err, ErrHeadGone) {
		return s.describe(ctx, id, c), ErrHeadGone.Error(), nil
	}
	if err != nil {
		return Sequence{}, "", err
	}
	rec, _, err := s.Get(ctx, job.GetId())
	if err != nil {
		return Sequence{}, "", err
	}
	job.Run = rec.GetRun() // the run that failed; ReplayRun starts the next
	why, err := s.ReplayRun(ctx, job)
	if err != nil || why != "" {
		return s.describe(ctx, id, c), why, err
	}
	// The head runs again: the cursor is active. If the new run ended
	// meanwhile, it moved the cursor already and this write conflicts.
	for i := 0; i < 16; i++ {
		cur, rev, err := s.cursor(ctx, id)
		if err != nil {
			return Sequence{}, "", err
		}
		if cur == nil || cur.GetHead() != c.GetHead() || cur.GetState() != cpibv1.SequenceState_SEQUENCE_STATE_BLOCKED {
			break
		}
		a := proto.CloneOf(cur)
		a.State, a.Since = cpibv1.SequenceState_SEQUENCE_STATE_ACTIVE, timestamppb.New(s.cfg.Now())
		if err := s.putCursor(ctx, id, a, rev); !errors.Is(err, ErrConflict) {
			if err != nil {
				return Sequence{}, "", err
			}
			break
		}
	}
	q, err := s.GetSequence(ctx, id)
	if errors.Is(err, ErrSequenceNotFound) {
		return Sequence{ID: id, Client: c.GetClient(), Flow: c.GetFlow(), Key: c.GetKey(), Head: c.GetHead()}, "", nil
	}
	return q, "", err
}

// SequenceWaiting says why a queued ordered job waits for its sequence:
// nil when it is its key's head (it waits, if at all, like any job).
func (s *Store) SequenceWaiting(ctx context.Context, rec *cpibv1.JobRecord) *Waiting {
	if rec.GetOrderingKey() == "" || rec.GetStatus() != cpibv1.JobStatus_JOB_STATUS_QUEUED {
		return nil
	}
	c, _, err := s.cursor(ctx, sequenceOf(rec.GetClient(), rec.GetFlow(), rec.GetOrderingKey()))
	if err != nil || c == nil || c.GetState() == cpibv1.SequenceState_SEQUENCE_STATE_IDLE {
		return &Waiting{Reason: WaitSequence} // its key is being started
	}
	if c.GetHead() == rec.GetId() {
		return nil
	}
	if c.GetState() == cpibv1.SequenceState_SEQUENCE_STATE_BLOCKED {
		return &Waiting{Reason: WaitSequenceBlocked, Job: c.GetHead()}
	}
	return &Waiting{Reason: WaitSequence, Job: c.GetHead()}
}

// RepairSequences looks at up to batch SEQ messages after sequence after
// and repairs what a crash left behind: a key with waiting jobs but no
// head is started, a cursor whose head ended is moved on (or blocked), a
// waiting job past its expires_at is expired (which takes it out of its
// sequence). It returns where to go on, 0 at the end.
func (s *Store) RepairSequences(ctx context.Context, after uint64, batch int) (uint64, error) {
	type seen struct {
		c   *cpibv1.SequenceCursor
		err error
	}
	cursors := map[string]seen{}
	now := s.cfg.Now()
	seq := after + 1
	for range batch {
		m, err := s.res.Seq.GetMsg(ctx, seq, jetstream.WithGetMsgSubject("cpib.seq.>"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("%w: read sequences: %w", ErrUnavailable, err)
		}
		seq = m.Sequence + 1
		id := strings.TrimPrefix(m.Subject, "cpib.seq.")
		job := &cpibv1.Job{}
		if proto.Unmarshal(m.Data, job) != nil || !ValidSequenceID(id) {
			continue
		}
		sc, ok := cursors[id]
		if !ok {
			sc.c, _, sc.err = s.cursor(ctx, id)
			cursors[id] = sc
		}
		if sc.err != nil {
			continue
		}
		switch {
		case sc.c == nil || sc.c.GetState() == cpibv1.SequenceState_SEQUENCE_STATE_IDLE:
			if err := s.kick(ctx, id); err != nil {
				s.log().Warn("jobs: sequence repair: start", "sequence", id, "err", err)
			}
			delete(cursors, id)
		case sc.c.GetHead() == job.GetId():
			rec, _, err := s.Get(ctx, job.GetId())
			if err == nil && Terminal(rec.GetStatus()) {
				if err := s.ended(ctx, id, rec, false); err != nil {
					s.log().Warn("jobs: sequence repair: move on", "sequence", id, "err", err)
				}
				delete(cursors, id)
			}
		case m.Sequence <= max(sc.c.GetLastSeq(), sc.c.GetHeadSeq()):
			// Behind the head: its job ended; the deletion was lost.
			if rec, _, err := s.Get(ctx, job.GetId()); err == nil && Terminal(rec.GetStatus()) {
				s.dropSeq(ctx, m.Sequence)
			}
		default:
			s.expireWaiting(ctx, job, now)
		}
	}
	return seq - 1, nil
}

// expireWaiting fails a job that waits in its sequence past its
// expires_at (DESIGN 5 "Expiry": no job waits forever unannounced).
func (s *Store) expireWaiting(ctx context.Context, job *cpibv1.Job, now time.Time) {
	if job.GetExpiresAt() == nil || !now.After(job.GetExpiresAt().AsTime()) {
		return
	}
	rec, rev, err := s.Get(ctx, job.GetId())
	if err != nil || rec.GetRun() != job.GetRun() {
		return
	}
	jerr := ExpiryError(rec, false, now)
	if jerr == nil {
		return
	}
	if _, err := s.Apply(ctx, rec, rev, Expire(0, jerr), nil); err != nil && !errors.Is(err, ErrConflict) {
		s.log().Warn("jobs: waiting ordered job not expired yet", "job_id", job.GetId(), "err", err)
	}
}

func (s *Store) log() *slog.Logger { return s.cfg.Logger }

// RepairHeads looks at up to batch cursors (the cpib-seq bucket's stream
// after sequence after) and repairs heads a crash left behind: a head that
// ended while the sequence was not moved on; a head made by a cursor write
// whose queue publish never happened (older than grace, queued, never
// attempted, with no queue message: it is enqueued again, de-duplicated by
// its ID); the claim of a job that was never stored. An idle cursor older
// than idleFor is deleted. It returns where to go on, 0 at the end.
func (s *Store) RepairHeads(ctx context.Context, after uint64, batch int, grace, idleFor time.Duration) (uint64, error) {
	st, err := s.res.JS.Stream(ctx, "KV_"+natsx.BucketSeq)
	if err != nil {
		return 0, fmt.Errorf("%w: sequence bucket: %w", ErrUnavailable, err)
	}
	now := s.cfg.Now()
	seq := after + 1
	for range batch {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(cursorSubjects+">"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("%w: read sequences: %w", ErrUnavailable, err)
		}
		seq = m.Sequence + 1
		c := &cpibv1.SequenceCursor{}
		if m.Header.Get("KV-Operation") != "" || proto.Unmarshal(m.Data, c) != nil {
			continue
		}
		id := strings.TrimPrefix(m.Subject, cursorSubjects)
		old := now.Sub(c.GetSince().AsTime())
		if c.GetState() == cpibv1.SequenceState_SEQUENCE_STATE_IDLE {
			if old > idleFor {
				_ = s.res.Cursors.Delete(ctx, id, jetstream.LastRevision(m.Sequence))
			}
			continue
		}
		if err := s.repairHead(ctx, id, c, old > grace); err != nil {
			s.log().Warn("jobs: sequence repair", "sequence", id, "job_id", c.GetHead(), "err", err)
		}
	}
	return seq - 1, nil
}

func (s *Store) repairHead(ctx context.Context, id string, c *cpibv1.SequenceCursor, old bool) error {
	rec, _, err := s.Get(ctx, c.GetHead())
	switch {
	case err == nil && Terminal(rec.GetStatus()) && old && !s.blocks(rec):
		// Ended long ago (its end left the cursor as it was, or the
		// process died before moving it on): the next job becomes the
		// head, or the cursor goes idle, so later passes skip it.
		return s.giveUpHead(ctx, id, rec.GetId())
	case err == nil && Terminal(rec.GetStatus()):
		return s.ended(ctx, id, rec, false)
	case errors.Is(err, ErrNotFound) && old && c.GetHeadSeq() == 0:
		// A claim whose job was never stored (its submit failed).
		return s.giveUpHead(ctx, id, c.GetHead())
	case err != nil && !errors.Is(err, ErrNotFound):
		return err
	case !old || c.GetHeadSeq() == 0 || c.GetState() != cpibv1.SequenceState_SEQUENCE_STATE_ACTIVE:
		return nil
	case err == nil && (rec.GetStatus() != cpibv1.JobStatus_JOB_STATUS_QUEUED || rec.GetAttempts() > 0 || rec.GetNextAttemptAt() != nil):
		return nil // it runs, or waits for its retry
	}
	if _, err := s.res.Jobs.GetLastMsgForSubject(ctx, natsx.QueueSubject(c.GetClient(), c.GetFlow(), c.GetHead())); err == nil {
		return nil // queued
	} else if !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("%w: read queue: %w", ErrUnavailable, err)
	}
	m, err := s.res.Seq.GetMsg(ctx, c.GetHeadSeq())
	if err != nil {
		return fmt.Errorf("%w: read sequence head: %w", ErrUnavailable, err)
	}
	job := &cpibv1.Job{}
	if err := proto.Unmarshal(m.Data, job); err != nil || job.GetId() != c.GetHead() {
		return fmt.Errorf("jobs: sequence head message does not hold job %s", c.GetHead())
	}
	s.log().Warn("jobs: sequence head was never queued (its writer died); queued now", "sequence", id, "job_id", job.GetId())
	return s.enqueue(ctx, job, m.Header)
}
