package natsx_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats.go/jetstream"
)

// TestEnsure_twice_keeps_layout_and_data: a restarted broker runs Ensure
// against existing resources; it must succeed and must not lose records.
func TestEnsure_twice_keeps_layout_and_data(t *testing.T) {
	ctx := ctxT(t)
	_, _, res := testkit.NATS(t)
	if _, err := res.Records.Put(ctx, "01JOB", []byte("record")); err != nil {
		t.Fatalf("put: %v", err)
	}
	if _, err := res.JS.Publish(ctx, natsx.QueueSubject("acme", "echo", "01J00000000000000000000000"), []byte("job")); err != nil {
		t.Fatalf("publish: %v", err)
	}

	again, err := natsx.Ensure(ctx, res.JS, testkit.Layout())
	if err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	e, err := again.Records.Get(ctx, "01JOB")
	if err != nil || string(e.Value()) != "record" {
		t.Fatalf("record after second Ensure: %v %q", err, e)
	}
	info, err := again.Jobs.Info(ctx)
	if err != nil || info.State.Msgs != 1 {
		t.Fatalf("JOBS after second Ensure: %v, msgs=%v", err, info)
	}
	assertStreams(t, res.JS)
}

// TestEnsure_concurrent: several processes may start at once against one
// cluster; every one of them must get the layout, none an error.
func TestEnsure_concurrent(t *testing.T) {
	ctx := ctxT(t)
	js := bare(t)
	const n = 3
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = natsx.Ensure(ctx, js, testkit.Layout())
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Ensure: %v", err)
	}
	assertStreams(t, js)
}

// assertStreams checks that every stream of DESIGN 6 (and the backing
// streams of its KV buckets and object store) exists, once.
func assertStreams(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	var names []string
	l := js.StreamNames(ctxT(t))
	for n := range l.Name() {
		names = append(names, n)
	}
	if err := l.Err(); err != nil {
		t.Fatalf("stream names: %v", err)
	}
	slices.Sort(names)
	if len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Fatalf("duplicate streams: %v", names)
	}
	for _, want := range []string{"ATTEMPTS", "AUDIT", "DLQ", "EVENTS", "JOBS", "KV_cpib-breakers", "KV_cpib-catalog", "KV_cpib-clients",
		"KV_cpib-idem", "KV_cpib-jobs", "KV_cpib-leases", "KV_cpib-quota", "OBJ_cpib-payloads"} {
		if !slices.Contains(names, want) {
			t.Errorf("stream %s missing from %v", want, names)
		}
	}
}

// TestEnsure_stream_configs checks the layout of DESIGN 6 for the default
// sizes and for an operator's own retention and idempotency window.
func TestEnsure_stream_configs(t *testing.T) {
	for _, tc := range []struct {
		name            string
		layout          natsx.Layout
		retention, idem time.Duration
	}{
		{"defaults", natsx.Layout{}, 7 * 24 * time.Hour, 24 * time.Hour},
		{"custom", natsx.Layout{Retention: 48 * time.Hour, IdempotencyWindow: time.Hour, DuplicateWindow: time.Minute},
			48 * time.Hour, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			res, err := natsx.Ensure(ctx, bare(t), tc.layout)
			if err != nil {
				t.Fatalf("Ensure: %v", err)
			}
			if res.Layout.Retention != tc.retention || res.Layout.IdempotencyWindow != tc.idem || res.Layout.Replicas != 1 {
				t.Errorf("effective layout = %+v", res.Layout)
			}

			jobs := streamConfig(t, res.Jobs)
			if jobs.Name != natsx.StreamJobs || !slices.Equal(jobs.Subjects, []string{"cpib.jobs.>"}) ||
				jobs.Retention != jetstream.WorkQueuePolicy || !jobs.AllowMsgSchedules ||
				jobs.Storage != jetstream.FileStorage || jobs.Duplicates != res.Layout.DuplicateWindow {
				t.Errorf("JOBS config = %+v", jobs)
			}
			for _, s := range []struct {
				stream  jetstream.Stream
				subject string
				maxAge  time.Duration
			}{
				{res.Events, "cpib.events.>", tc.retention},
				{res.DLQ, "cpib.dlq.>", tc.retention},
				{res.Audit, "cpib.audit.>", tc.retention},
			} {
				c := streamConfig(t, s.stream)
				if !slices.Equal(c.Subjects, []string{s.subject}) || c.Retention != jetstream.LimitsPolicy ||
					c.Storage != jetstream.FileStorage || c.MaxAge != s.maxAge {
					t.Errorf("%s config = subjects %v retention %v storage %v max age %v",
						c.Name, c.Subjects, c.Retention, c.Storage, c.MaxAge)
				}
			}

			for _, b := range []struct {
				kv     jetstream.KeyValue
				bucket string
				ttl    time.Duration
			}{
				{res.Records, "cpib-jobs", tc.retention},
				{res.Idem, "cpib-idem", tc.idem},
				{res.Catalog, "cpib-catalog", 0},
				{res.Clients, "cpib-clients", 0},
				{res.Quota, "cpib-quota", 0},
				{res.Breakers, "cpib-breakers", 0},
				{res.Leases, "cpib-leases", 0},
			} {
				st, err := b.kv.Status(ctx)
				if err != nil {
					t.Fatalf("status %s: %v", b.bucket, err)
				}
				if st.Bucket() != b.bucket || st.TTL() != b.ttl {
					t.Errorf("bucket %s: name %s ttl %v, want ttl %v", b.bucket, st.Bucket(), st.TTL(), b.ttl)
				}
			}
			ost, err := res.Payloads.Status(ctx)
			if err != nil {
				t.Fatalf("object store status: %v", err)
			}
			if ost.Bucket() != "cpib-payloads" || ost.TTL() != tc.retention || ost.Storage() != jetstream.FileStorage {
				t.Errorf("object store %s ttl %v storage %v", ost.Bucket(), ost.TTL(), ost.Storage())
			}
		})
	}
}

func streamConfig(t *testing.T, s jetstream.Stream) jetstream.StreamConfig {
	t.Helper()
	info, err := s.Info(ctxT(t))
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	return info.Config
}

// TestEnsure_rejects_impossible_layout: a bad flag value is an error before
// anything is created.
func TestEnsure_rejects_impossible_layout(t *testing.T) {
	js := bare(t)
	for _, tc := range []struct {
		name   string
		layout natsx.Layout
	}{
		{"six replicas", natsx.Layout{Replicas: 6}},
		{"negative replicas", natsx.Layout{Replicas: -1}},
		{"retention under a minute", natsx.Layout{Retention: 30 * time.Second}},
		{"duplicate window under a second", natsx.Layout{DuplicateWindow: 10 * time.Millisecond}},
		{"ack wait under a second", natsx.Layout{AckWait: 500 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := natsx.Ensure(ctxT(t), js, tc.layout); err == nil {
				t.Fatalf("Ensure(%+v) succeeded", tc.layout)
			}
		})
	}
	if n := countStreams(t, js); n != 0 {
		t.Fatalf("%d streams created by rejected layouts", n)
	}
}

func countStreams(t *testing.T, js jetstream.JetStream) int {
	t.Helper()
	n := 0
	l := js.StreamNames(ctxT(t))
	for range l.Name() {
		n++
	}
	return n
}

// TestEnsure_JOBS_sets_a_consumer_limit: nats-server caps a stream that
// sets no consumer limit at 1000 consumers (default_max_consumers; the
// bench's --idle-consumers 1000 hit it: every submit of a new pair got
// 503). JOBS carries two per (client, flow) and DELIVERIES one per
// endpoint, so both set theirs.
func TestEnsure_JOBS_sets_a_consumer_limit(t *testing.T) {
	ctx := ctxT(t)
	_, _, res := testkit.NATS(t)
	for _, s := range []jetstream.Stream{res.Jobs, res.Deliveries} {
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Config.MaxConsumers; got != 100_000 {
			t.Errorf("%s: max_consumers %d, want 100000", info.Config.Name, got)
		}
	}
}
