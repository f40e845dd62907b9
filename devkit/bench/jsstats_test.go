package bench

import (
	"context"
	"slices"
	"testing"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats.go/jetstream"
)

func TestCountWrites(t *testing.T) {
	before := snapshot{
		streams: map[string]uint64{"JOBS": 10, "KV_cpib-jobs": 30, "KV_cpib-catalog": 3, "OLD": 50},
		consumers: map[string]consumerState{
			"q_a_f":    {delivered: 10, ackPending: 2}, // 8 resolved
			"q_gone_f": {delivered: 5},
		},
	}
	after := snapshot{
		streams: map[string]uint64{
			"JOBS": 110, "KV_cpib-jobs": 330, "KV_cpib-catalog": 3, // unchanged: omitted
			"EVENTS": 7, // new stream: counts from 0
			"OLD":    4, // recreated: its 4 are new
		},
		consumers: map[string]consumerState{
			"q_a_f": {delivered: 112, ackPending: 1}, // 111 resolved: +103
			"r_a_f": {delivered: 3, ackPending: 0},   // new consumer: +3
		},
	}
	w := countWrites(before, after)
	wantStreams := map[string]int64{"JOBS": 100, "KV_cpib-jobs": 300, "EVENTS": 7, "OLD": 4}
	if len(w.Streams) != len(wantStreams) {
		t.Fatalf("streams %v, want %v", w.Streams, wantStreams)
	}
	for k, v := range wantStreams {
		if w.Streams[k] != v {
			t.Errorf("stream %s: %d, want %d", k, w.Streams[k], v)
		}
	}
	if w.Acks != 106 || w.Total != 100+300+7+4+106 {
		t.Errorf("acks %d total %d", w.Acks, w.Total)
	}
	if !slices.Equal(w.ConsumersGone, []string{"q_gone_f"}) {
		t.Errorf("gone %v", w.ConsumersGone)
	}
}

func TestConsumerState_resolved(t *testing.T) {
	if got := (consumerState{delivered: 3, ackPending: 5}).resolved(); got != 0 {
		t.Fatalf("resolved %d", got)
	}
}

func TestCountAPICalls(t *testing.T) {
	if got := countAPICalls(100, 130, 12); got != (APICalls{CounterDelta: 30, Own: 12, Total: 18}) {
		t.Fatalf("%+v", got)
	}
	if got := countAPICalls(100, 101, 2); got.Total != 0 {
		t.Fatalf("negative total %+v", got)
	}
	if perJob(500, 100) != 5 || perJob(1, 3) != 0.333 || perJob(5, 0) != 0 {
		t.Fatal("perJob")
	}
}

// TestAPICounter_counts_a_request_after_answering checks the assumption
// behind APICalls.Own: between two AccountInfo readings with k requests in
// between, the counter moves by k+1 (the first reading counts itself only
// once it has answered).
func TestAPICounter_counts_a_request_after_answering(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a JetStream server")
	}
	srv, err := natsx.StartEmbedded(natsx.EmbeddedConfig{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	nc, js, err := natsx.Connect(natsx.ConnectConfig{Server: srv})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx := context.Background()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}})
	if err != nil {
		t.Fatal(err)
	}
	a0, err := apiTotal(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	const k = 7
	for range k {
		if _, err := st.Info(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.Publish(ctx, "t.x", []byte("x")); err != nil { // a publish is not an API request
		t.Fatal(err)
	}
	a1, err := apiTotal(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	if got := countAPICalls(a0, a1, k+1); got.Total != 0 || got.CounterDelta != k+1 {
		t.Fatalf("counter moved by %d, want %d", got.CounterDelta, k+1)
	}
}
