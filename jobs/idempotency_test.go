package jobs_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// idemKey is the documented cpib-idem key of a client's raw key:
// <client>.<hex sha256(key)>.
func idemKey(client, key string) string {
	h := sha256.Sum256([]byte(key))
	return client + "." + hex.EncodeToString(h[:])
}

func keyed(s jobs.Submission, key string) jobs.Submission {
	s.IdempotencyKey = key
	return s
}

func TestIdempotency_same_request_replays_the_job(t *testing.T) {
	e := newEnv(t, jobs.Config{})
	ctx := ctxT(t)
	s := keyed(sub("acme", "echo", `{"n":1}`), "order-1")
	first := mustSubmit(t, e, s)

	e.clock.Advance(23 * time.Hour)
	again := mustSubmit(t, e, s)
	if !again.Replayed || again.Record.GetId() != first.Record.GetId() {
		t.Fatalf("second submit: replayed=%v id %s, want the first job %s", again.Replayed, again.Record.GetId(), first.Record.GetId())
	}
	if n := jobMsgs(t, e); n != 1 {
		t.Fatalf("JOBS holds %d messages after a replay, want 1", n)
	}

	// A replay answers the job's current state.
	if _, _, err := e.store.Mutate(ctx, first.Record.GetId(), func(r *cpibv1.JobRecord) error {
		r.Status = cpibv1.JobStatus_JOB_STATUS_SUCCEEDED
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if acc := mustSubmit(t, e, s); !acc.Replayed || acc.Record.GetStatus() != cpibv1.JobStatus_JOB_STATUS_SUCCEEDED {
		t.Fatalf("replay after success: replayed=%v status %v", acc.Replayed, acc.Record.GetStatus())
	}

	// Keys belong to a client: another client's identical key is a new job.
	other := mustSubmit(t, e, keyed(sub("globex", "echo", `{"n":1}`), "order-1"))
	if other.Replayed || other.Record.GetId() == first.Record.GetId() {
		t.Fatalf("another client's key replayed acme's job")
	}
}

func TestIdempotency_same_key_other_request_is_rejected(t *testing.T) {
	base := jobs.Submission{
		Client: "acme", Flow: "echo", ContentType: "application/json", Payload: []byte(`{"n":1}`),
		Query: "a=1", FlowPath: "/x", CallbackURL: "https://hooks.acme.example/cpib/1", IdempotencyKey: "k",
	}
	for _, tc := range []struct {
		name   string
		change func(*jobs.Submission)
	}{
		{"body", func(s *jobs.Submission) { s.Payload = []byte(`{"n":2}`) }},
		{"empty body", func(s *jobs.Submission) { s.Payload = nil }},
		{"flow", func(s *jobs.Submission) { s.Flow = "slow" }},
		{"content type", func(s *jobs.Submission) { s.ContentType = "text/plain" }},
		{"query", func(s *jobs.Submission) { s.Query = "a=2" }},
		{"flow path", func(s *jobs.Submission) { s.FlowPath = "/y" }},
		{"callback", func(s *jobs.Submission) { s.CallbackURL = "https://hooks.acme.example/cpib/2" }},
		// Length-prefixed fields: moving bytes between fields is a change.
		{"bytes moved between fields", func(s *jobs.Submission) { s.Query, s.FlowPath = "a=1/x", "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, jobs.Config{})
			mustSubmit(t, e, base)
			changed := base
			tc.change(&changed)
			acc, err := e.store.Submit(ctxT(t), changed)
			if !errors.Is(err, jobs.ErrIdempotencyKeyReused) || acc.Record != nil {
				t.Fatalf("Submit: %v %v, want ErrIdempotencyKeyReused", acc.Record, err)
			}
			if n := jobMsgs(t, e); n != 1 {
				t.Fatalf("JOBS holds %d messages, want 1", n)
			}
		})
	}
}

// requestHash learns the body hash Submit stores for s, through the public
// behaviour only: it submits s on a scratch server and reads the entry.
func requestHash(t *testing.T, s jobs.Submission) []byte {
	t.Helper()
	scratch := newEnv(t, jobs.Config{})
	s.IdempotencyKey = "probe"
	mustSubmit(t, scratch, s)
	e, err := scratch.res.Idem.Get(ctxT(t), idemKey(s.Client, "probe"))
	if err != nil {
		t.Fatalf("probe entry: %v", err)
	}
	var entry cpibv1.IdempotencyEntry
	if err := proto.Unmarshal(e.Value(), &entry); err != nil {
		t.Fatal(err)
	}
	return entry.GetBodyHash()
}

// writeEntry leaves an idempotency entry as a request that crashed after
// its first write would have: the key points at a job ID with no record.
func writeEntry(t *testing.T, e *env, s jobs.Submission, hash []byte, created time.Time) string {
	t.Helper()
	id := ulid.MustNew(ulid.Timestamp(created), ulid.DefaultEntropy()).String()
	b, err := proto.Marshal(&cpibv1.IdempotencyEntry{JobId: id, BodyHash: hash, CreatedAt: timestamppb.New(created)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.res.Idem.Create(ctxT(t), idemKey(s.Client, s.IdempotencyKey), b); err != nil {
		t.Fatalf("write entry: %v", err)
	}
	return id
}

// TestIdempotency_in_flight_then_taken_over covers both sides of
// InFlightWindow for a key whose job has no record: younger → 409 in use;
// older → the first request crashed, and this one republishes the job
// under the same ID, which is then found.
func TestIdempotency_in_flight_then_taken_over(t *testing.T) {
	s := keyed(sub("acme", "echo", `{"n":1}`), "order-7")
	hash := requestHash(t, s)
	const window = 10 * time.Second
	for _, tc := range []struct {
		name     string
		age      time.Duration
		takeover bool
	}{
		{"just written", 0, false},
		{"just inside the window", window - time.Nanosecond, false},
		{"at the window", window, true},
		{"an hour old", time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, jobs.Config{InFlightWindow: window})
			id := writeEntry(t, e, s, hash, t0.Add(-tc.age))

			acc, err := e.store.Submit(ctxT(t), s)
			if !tc.takeover {
				if !errors.Is(err, jobs.ErrIdempotencyKeyInUse) {
					t.Fatalf("Submit: %v, want ErrIdempotencyKeyInUse", err)
				}
				if n := jobMsgs(t, e); n != 0 {
					t.Fatalf("an in-use key queued %d messages", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("takeover Submit: %v", err)
			}
			if acc.Record.GetId() != id {
				t.Fatalf("takeover job ID %s, want the key's %s", acc.Record.GetId(), id)
			}
			if _, _, err := e.store.GetOwned(ctxT(t), "acme", id); err != nil {
				t.Fatalf("job %s after takeover: %v", id, err)
			}
			if _, m := queued(t, e, "acme", "echo"); m.Header.Get(nats.MsgIdHdr) != id {
				t.Fatalf("queued message Nats-Msg-Id %q, want %s", m.Header.Get(nats.MsgIdHdr), id)
			}
			if replay := mustSubmit(t, e, s); !replay.Replayed || replay.Record.GetId() != id {
				t.Fatalf("after takeover: replayed=%v id %s", replay.Replayed, replay.Record.GetId())
			}
		})
	}
}

// TestIdempotency_takeover_does_not_queue_twice: the first request's
// message did land but its record did not; the takeover's republish is
// de-duplicated by Nats-Msg-Id, so CPI is not called twice.
func TestIdempotency_takeover_does_not_queue_twice(t *testing.T) {
	s := keyed(sub("acme", "echo", `{"n":1}`), "order-8")
	hash := requestHash(t, s)
	e := newEnv(t, jobs.Config{})
	id := writeEntry(t, e, s, hash, t0.Add(-time.Minute))
	first := &cpibv1.Job{Id: id, Client: "acme", Flow: "echo", Run: 1, Payload: s.Payload}
	b, _ := proto.Marshal(first)
	if _, err := e.res.JS.PublishMsg(ctxT(t), &nats.Msg{Subject: natsx.QueueSubject("acme", "echo", id), Data: b},
		jetstream.WithMsgID(id)); err != nil {
		t.Fatal(err)
	}

	acc := mustSubmit(t, e, s)
	if acc.Record.GetId() != id {
		t.Fatalf("takeover job ID %s, want %s", acc.Record.GetId(), id)
	}
	if n := jobMsgs(t, e); n != 1 {
		t.Fatalf("JOBS holds %d messages, want 1", n)
	}
	if _, _, err := e.store.Get(ctxT(t), id); err != nil {
		t.Fatalf("record after takeover: %v", err)
	}
}

// TestIdempotency_takeover_after_refused_publish is the crash case made by
// the real code: JetStream refuses the job message (here: the JOBS stream is
// gone), so Submit fails after writing the key entry. Nothing else is
// stored, and the failed request releases its key: the partner's retry
// need not wait for the in-flight window, it stores the job under the same
// ID at once (marked replayed: it is the first request's job), and the job
// must be found.
func TestIdempotency_takeover_after_refused_publish(t *testing.T) {
	e := newEnv(t, jobs.Config{InFlightWindow: 10 * time.Second})
	ctx := ctxT(t)
	s := keyed(sub("acme", "echo", `{"n":1}`), "order-9")
	if err := e.res.JS.DeleteStream(ctx, natsx.StreamJobs); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Submit(ctx, s); !errors.Is(err, jobs.ErrUnavailable) {
		t.Fatalf("Submit without a JOBS stream: %v, want ErrUnavailable", err)
	}
	entry, err := e.res.Idem.Get(ctx, idemKey("acme", "order-9"))
	if err != nil {
		t.Fatalf("the key entry was not written first: %v", err)
	}
	var ie cpibv1.IdempotencyEntry
	if err := proto.Unmarshal(entry.Value(), &ie); err != nil {
		t.Fatal(err)
	}
	if !ie.GetReleased() {
		t.Fatal("the failed request did not release its key")
	}
	if _, err := e.res.Records.Get(ctx, ie.GetJobId()); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("record of a refused job: %v, want none (nothing half-stored)", err)
	}
	res, err := natsx.Ensure(ctx, e.res.JS, testkit.Layout())
	if err != nil {
		t.Fatal(err)
	}
	e.res = res

	acc, err := e.store.Submit(ctx, s)
	if err != nil {
		t.Fatalf("retry inside the window: %v", err)
	}
	if !acc.Replayed || acc.Record.GetId() != ie.GetJobId() {
		t.Fatalf("retry job ID %s, want the key's %s", acc.Record.GetId(), ie.GetJobId())
	}
	if _, m := queued(t, e, "acme", "echo"); m.Header.Get(nats.MsgIdHdr) != ie.GetJobId() {
		t.Fatalf("queued Nats-Msg-Id %q", m.Header.Get(nats.MsgIdHdr))
	}
	if _, _, err := e.store.GetOwned(ctx, "acme", ie.GetJobId()); err != nil {
		t.Fatalf("job %s accepted but not found: %v", ie.GetJobId(), err)
	}
}
