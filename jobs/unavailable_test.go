package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/jobs"
	"github.com/nats-io/nats.go/jetstream"
)

// TestSubmit_JetStream_down: with the server gone, Submit fails fast with
// ErrUnavailable (503), and once the server is back on the same data,
// nothing of the refused submissions exists: no message, record, key or
// payload object, and the partner's retry with the same key is a new job.
func TestSubmit_JetStream_down(t *testing.T) {
	dir := t.TempDir()
	ns, _, res := testkit.NATSAt(t, dir)
	e := newEnvOn(t, res, jobs.Config{InlineMax: 1024})
	ns.Shutdown()
	ns.WaitForShutdown()

	subs := []struct {
		name string
		sub  jobs.Submission
	}{
		{"small", sub("acme", "echo", "{}")},
		{"large", jobs.Submission{Client: "acme", Flow: "echo", Payload: bytes.Repeat([]byte("x"), 4096)}},
		{"idempotent", keyed(sub("acme", "echo", "{}"), "outage-1")},
		{"idempotent, large", jobs.Submission{Client: "acme", Flow: "echo", Payload: bytes.Repeat([]byte("y"), 4096), IdempotencyKey: "outage-2"}},
	}
	const bound = 3 * time.Second
	for _, tc := range subs {
		s := tc.sub
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), bound)
			defer cancel()
			start := time.Now()
			acc, err := e.store.Submit(ctx, s)
			if !errors.Is(err, jobs.ErrUnavailable) {
				t.Fatalf("Submit with JetStream down: %v, %v; want ErrUnavailable", acc.Record, err)
			}
			if d := time.Since(start); d > bound+time.Second {
				t.Fatalf("Submit took %v with a %v deadline", d, bound)
			}
		})
	}

	_, _, res2 := testkit.NATSAt(t, dir)
	ctx := ctxT(t)
	after := newEnvOn(t, res2, jobs.Config{InlineMax: 1024})
	if n := jobMsgs(t, after); n != 0 {
		t.Errorf("JOBS holds %d messages from refused submissions", n)
	}
	for _, kv := range []jetstream.KeyValue{res2.Records, res2.Idem} {
		if keys, err := kv.ListKeys(ctx); err != nil {
			t.Fatal(err)
		} else {
			for k := range keys.Keys() {
				t.Errorf("bucket %s holds %q from a refused submission", kv.Bucket(), k)
			}
		}
	}
	if objs, err := res2.Payloads.List(ctx); err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		t.Fatal(err)
	} else {
		for _, o := range objs {
			t.Errorf("object %q left from a refused submission", o.Name)
		}
	}

	for _, tc := range subs {
		acc, err := after.store.Submit(ctx, tc.sub)
		if err != nil || acc.Replayed {
			t.Errorf("%s: Submit after recovery: replayed=%v %v", tc.name, acc.Replayed, err)
		}
	}
	if info, err := res2.Jobs.Info(ctx); err != nil || info.State.Msgs != uint64(len(subs)) {
		t.Errorf("JOBS after recovery: %v, want %d messages", err, len(subs))
	}
}

// TestSubmit_refused_publish_leaves_nothing: when JetStream refuses the job
// message (here the JOBS stream is gone) the submission is a 503 and none of
// its parts stays behind: no record, and no payload object that no job will
// ever reference or delete.
func TestSubmit_refused_publish_leaves_nothing(t *testing.T) {
	e := newEnv(t, jobs.Config{InlineMax: 1024})
	ctx := ctxT(t)
	if err := e.res.JS.DeleteStream(ctx, natsx.StreamJobs); err != nil {
		t.Fatal(err)
	}
	acc, err := e.store.Submit(ctx, jobs.Submission{Client: "acme", Flow: "echo", Payload: bytes.Repeat([]byte("z"), 4096)})
	if !errors.Is(err, jobs.ErrUnavailable) {
		t.Fatalf("Submit without a JOBS stream: %v, %v; want ErrUnavailable", acc.Record, err)
	}
	keys, err := e.res.Records.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for k := range keys.Keys() {
		t.Errorf("record %q left by a refused submission", k)
	}
	objs, err := e.res.Payloads.List(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		t.Fatal(err)
	}
	if len(objs) > 0 {
		t.Errorf("payload object %q left by a refused submission", objs[0].Name)
	}
}
