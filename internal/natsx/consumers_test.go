package natsx_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats.go/jetstream"
)

func TestConsumerName_round_trip(t *testing.T) {
	for i, tc := range []struct {
		kind, client, flow string
		name, subject      string
	}{
		{natsx.KindQueue, "acme", "demo-echo", "q_acme_demo-echo", "cpib.jobs.q.acme.demo-echo.>"},
		{natsx.KindRetry, "acme", "demo-echo", "r_acme_demo-echo", "cpib.jobs.r.acme.demo-echo.>"},
		{natsx.KindQueue, "0", "9", "q_0_9", "cpib.jobs.q.0.9.>"},
		{natsx.KindRetry, strings.Repeat("a", 63), strings.Repeat("b-", 31) + "c", "r_" + strings.Repeat("a", 63) + "_" + strings.Repeat("b-", 31) + "c",
			"cpib.jobs.r." + strings.Repeat("a", 63) + "." + strings.Repeat("b-", 31) + "c.>"},
	} {
		name := natsx.ConsumerName(tc.kind, tc.client, tc.flow)
		if name != tc.name {
			t.Errorf("Test %d: ConsumerName = %q, want %q", i, name, tc.name)
		}
		if s := natsx.ConsumerSubject(tc.kind, tc.client, tc.flow); s != tc.subject {
			t.Errorf("Test %d: ConsumerSubject = %q, want %q", i, s, tc.subject)
		}
		k, c, f, ok := natsx.ParseConsumerName(name)
		if !ok || k != tc.kind || c != tc.client || f != tc.flow {
			t.Errorf("Test %d: ParseConsumerName(%q) = %q %q %q %v", i, name, k, c, f, ok)
		}
	}
	// The two name helpers of subjects.go must agree with ConsumerName, or
	// the dispatcher would look for consumers that EnsureConsumer never made.
	if natsx.QueueConsumer("a", "b") != natsx.ConsumerName(natsx.KindQueue, "a", "b") ||
		natsx.RetryConsumer("a", "b") != natsx.ConsumerName(natsx.KindRetry, "a", "b") {
		t.Error("QueueConsumer/RetryConsumer disagree with ConsumerName")
	}
}

func TestParseConsumerName_rejects(t *testing.T) {
	for _, name := range []string{
		"", "q", "q_acme", "q_acme_", "q__echo", "_acme_echo", "x_acme_echo", "Q_acme_echo",
		"q_acme_echo_extra", "qq_acme_echo", "KV_cpib-jobs", "q-acme-echo",
	} {
		if k, c, f, ok := natsx.ParseConsumerName(name); ok {
			t.Errorf("ParseConsumerName(%q) = %q %q %q, ok", name, k, c, f)
		}
	}
}

// FuzzParseConsumerName: whatever consumer names the JOBS stream holds, the
// parser never panics, accepts only names ConsumerName could have made, and
// gives back exactly the parts that make them.
func FuzzParseConsumerName(f *testing.F) {
	for _, s := range []string{"q_acme_echo", "r_a_b", "q__b", "q_a_b_c", "", "_", "r_a-b_c-d", "q_\x00_\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		kind, client, flow, ok := natsx.ParseConsumerName(name)
		if !ok {
			if kind != "" || client != "" || flow != "" {
				t.Fatalf("rejected %q but returned %q %q %q", name, kind, client, flow)
			}
			return
		}
		if kind != natsx.KindQueue && kind != natsx.KindRetry {
			t.Fatalf("kind %q from %q", kind, name)
		}
		if client == "" || flow == "" || strings.Contains(client, "_") || strings.Contains(flow, "_") {
			t.Fatalf("parts %q %q from %q", client, flow, name)
		}
		if back := natsx.ConsumerName(kind, client, flow); back != name {
			t.Fatalf("ConsumerName(ParseConsumerName(%q)) = %q", name, back)
		}
	})
}

// FuzzConsumerName_round_trip: every (kind, client, flow) of valid parts
// parses back to itself.
func FuzzConsumerName_round_trip(f *testing.F) {
	f.Add(true, "acme", "demo-echo")
	f.Add(false, "0", "x")
	f.Fuzz(func(t *testing.T, retry bool, client, flow string) {
		if client == "" || flow == "" || strings.Contains(client, "_") || strings.Contains(flow, "_") {
			t.Skip()
		}
		kind := natsx.KindQueue
		if retry {
			kind = natsx.KindRetry
		}
		k, c, fl, ok := natsx.ParseConsumerName(natsx.ConsumerName(kind, client, flow))
		if !ok || k != kind || c != client || fl != flow {
			t.Fatalf("round trip of %q %q %q = %q %q %q %v", kind, client, flow, k, c, fl, ok)
		}
	})
}

// TestEnsureConsumer_idempotent_and_pairs_coexist: one durable consumer
// per (kind, client, flow) on the WorkQueue stream, made as often as needed,
// each receiving only its own subject.
func TestEnsureConsumer_idempotent_and_pairs_coexist(t *testing.T) {
	ctx := ctxT(t)
	_, _, res := testkit.NATS(t)
	pairs := []struct{ kind, client, flow string }{
		{natsx.KindQueue, "acme", "echo"},
		{natsx.KindQueue, "acme", "slow"},
		{natsx.KindQueue, "globex", "echo"},
		{natsx.KindRetry, "acme", "echo"},
	}
	for round := range 2 {
		for _, p := range pairs {
			c, err := natsx.EnsureConsumer(ctx, res.JS, p.kind, p.client, p.flow, 2*time.Second)
			if err != nil {
				t.Fatalf("round %d: EnsureConsumer%v: %v", round, p, err)
			}
			cfg := c.CachedInfo().Config
			if cfg.Durable != natsx.ConsumerName(p.kind, p.client, p.flow) ||
				cfg.FilterSubject != natsx.ConsumerSubject(p.kind, p.client, p.flow) ||
				cfg.AckPolicy != jetstream.AckExplicitPolicy || cfg.AckWait != 2*time.Second {
				t.Errorf("round %d: consumer %v config = %+v", round, p, cfg)
			}
		}
	}
	info, err := res.Jobs.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Consumers != len(pairs) {
		t.Fatalf("%d consumers on JOBS, want %d", info.State.Consumers, len(pairs))
	}

	// Each consumer gets the messages of its own subject only.
	for _, p := range pairs {
		subj := natsx.ConsumerSubject(p.kind, p.client, p.flow)
		if _, err := res.JS.Publish(ctx, subj, []byte(subj)); err != nil {
			t.Fatalf("publish %s: %v", subj, err)
		}
	}
	for _, p := range pairs {
		c, err := res.Jobs.Consumer(ctx, natsx.ConsumerName(p.kind, p.client, p.flow))
		if err != nil {
			t.Fatal(err)
		}
		batch, err := c.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for m := range batch.Messages() {
			got = append(got, m.Subject())
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatalf("ack: %v", err)
			}
		}
		if want := natsx.ConsumerSubject(p.kind, p.client, p.flow); len(got) != 1 || got[0] != want {
			t.Errorf("consumer %v got %q, want [%q]", p, got, want)
		}
		// Nothing else is waiting for it: the other pairs' jobs are not its.
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumPending != 0 || info.NumAckPending != 0 {
			t.Errorf("consumer %v: %d pending, %d unacked after its one job", p, info.NumPending, info.NumAckPending)
		}
	}
	// WorkQueue: acked messages are gone.
	if info, err := res.Jobs.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Fatalf("JOBS after acks: %v msgs=%v", err, info.State.Msgs)
	}
}

func TestParseJobSubject(t *testing.T) {
	for _, tc := range []struct{ kind, client, flow, id string }{
		{natsx.KindQueue, "acme", "demo-echo", "01JABCDEFGHJKMNPQRSTVWXYZ0"},
		{natsx.KindRetry, "0", "9", "x"},
	} {
		subj := natsx.QueueSubject(tc.client, tc.flow, tc.id)
		if tc.kind == natsx.KindRetry {
			subj = natsx.RetrySubject(tc.client, tc.flow, tc.id)
		}
		k, c, f, id, ok := natsx.ParseJobSubject(subj)
		if !ok || k != tc.kind || c != tc.client || f != tc.flow || id != tc.id {
			t.Errorf("ParseJobSubject(%q) = %q %q %q %q %v", subj, k, c, f, id, ok)
		}
		// The consumer of the pair takes exactly the pair's jobs.
		filter := natsx.ConsumerSubject(tc.kind, tc.client, tc.flow)
		if !strings.HasPrefix(subj, strings.TrimSuffix(filter, ">")) {
			t.Errorf("subject %q is outside its consumer's filter %q", subj, filter)
		}
	}
	for _, subj := range []string{
		"", "cpib.jobs.q.acme.echo", "cpib.jobs.s.01J", "cpib.jobs.q.acme.echo.id.extra", "cpib.jobs.x.acme.echo.id",
		"cpib.jobs.q..echo.id", "cpib.jobs.q.acme..id", "cpib.jobs.q.acme.echo.", "cpib.events.q.acme.echo.id",
	} {
		if k, c, f, id, ok := natsx.ParseJobSubject(subj); ok {
			t.Errorf("ParseJobSubject(%q) = %q %q %q %q, ok", subj, k, c, f, id)
		}
	}
	if got := natsx.JobLookup("", "01J"); got != "cpib.jobs.q.*.*.01J" {
		t.Errorf("JobLookup any client = %q", got)
	}
	if got := natsx.JobLookup("acme", "01J"); got != "cpib.jobs.q.acme.*.01J" {
		t.Errorf("JobLookup = %q", got)
	}
}

// FuzzParseJobSubject: whatever subjects the JOBS stream holds, the parser
// never panics and accepts only subjects QueueSubject or RetrySubject
// could have made, giving back their parts.
func FuzzParseJobSubject(f *testing.F) {
	for _, s := range []string{"cpib.jobs.q.a.b.c", "cpib.jobs.r.a.b.c", "cpib.jobs.q.a.b", "cpib.jobs.s.x", "", "......", "cpib.jobs.q.a.b.c.d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, subj string) {
		kind, client, flow, id, ok := natsx.ParseJobSubject(subj)
		if !ok {
			return
		}
		want := natsx.QueueSubject(client, flow, id)
		if kind == natsx.KindRetry {
			want = natsx.RetrySubject(client, flow, id)
		}
		if want != subj || strings.ContainsAny(client+flow+id, ".") {
			t.Fatalf("ParseJobSubject(%q) = %q %q %q %q", subj, kind, client, flow, id)
		}
	})
}
