package jobs_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// t0 is the injected "now" of every test; whole-second-free on purpose so
// timestamps keep their nanoseconds through the record.
var t0 = time.Date(2026, 11, 22, 8, 30, 0, 123456789, time.UTC)

// clock is an injected Config.Now that only moves when told to.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a job store over a real embedded JetStream.
type env struct {
	res   *natsx.Resources
	store *jobs.Store
	clock *clock
}

func newEnv(t *testing.T, cfg jobs.Config) *env {
	t.Helper()
	_, _, res := testkit.NATS(t)
	return newEnvOn(t, res, cfg)
}

func newEnvOn(t *testing.T, res *natsx.Resources, cfg jobs.Config) *env {
	t.Helper()
	clk := newClock()
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	s, err := jobs.NewStore(res, cfg)
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	return &env{res: res, store: s, clock: clk}
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func sub(client, flow, body string) jobs.Submission {
	return jobs.Submission{Client: client, Flow: flow, ContentType: "application/json", Payload: []byte(body)}
}

func mustSubmit(t *testing.T, e *env, s jobs.Submission) jobs.Accepted {
	t.Helper()
	acc, err := e.store.Submit(ctxT(t), s)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if acc.Record == nil {
		t.Fatal("Submit returned no record")
	}
	return acc
}

// queued returns the last job message stored for (client, flow) and its
// headers.
func queued(t *testing.T, e *env, client, flow string) (*cpibv1.Job, *jetstream.RawStreamMsg) {
	t.Helper()
	filter := natsx.ConsumerSubject(natsx.KindQueue, client, flow)
	var m *jetstream.RawStreamMsg
	for seq := uint64(1); ; {
		next, err := e.res.Jobs.GetMsg(ctxT(t), seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			t.Fatalf("job message on %s: %v", filter, err)
		}
		m, seq = next, next.Sequence+1
	}
	if m == nil {
		t.Fatalf("no job message on %s", filter)
	}
	job := &cpibv1.Job{}
	if err := proto.Unmarshal(m.Data, job); err != nil {
		t.Fatalf("decode job: %v", err)
	}
	return job, m
}

// jobMsgs counts the messages in JOBS.
func jobMsgs(t *testing.T, e *env) uint64 {
	t.Helper()
	info, err := e.res.Jobs.Info(ctxT(t))
	if err != nil {
		t.Fatalf("JOBS info: %v", err)
	}
	return info.State.Msgs
}
