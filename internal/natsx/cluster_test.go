package natsx_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats.go/jetstream"
)

// TestEnsure_replicas_on_a_cluster: Ensure with --replicas 3 on a 3-node
// cluster gives every stream, bucket and object store three replicas;
// a layout first made with one replica is scaled up in place, its data
// kept; a later Ensure with the same layout (another process starting)
// changes nothing, and one with --replicas 1 lowers nothing.
func TestEnsure_replicas_on_a_cluster(t *testing.T) {
	ctx := ctxT(t)
	cl := testkit.StartCluster(t, 3)
	_, js := cl.Connect()
	r1, err := natsx.Ensure(ctx, js, natsx.Layout{Replicas: 1})
	if err != nil {
		t.Fatalf("Ensure R1: %v", err)
	}
	// A stream just placed on a cluster answers once its replica is up.
	testkit.Eventually(t, 10*time.Second, "the first write to a new R1 bucket", func() bool {
		_, err := r1.Records.Put(ctx, "01JOB", []byte("record"))
		return err == nil
	})
	for range 2 {
		if _, err := natsx.Ensure(ctx, js, natsx.Layout{Replicas: 3}); err != nil {
			t.Fatalf("Ensure R3: %v", err)
		}
	}
	names := js.StreamNames(ctx)
	n := 0
	for name := range names.Name() {
		n++
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().Config.Replicas; got != 3 {
			t.Errorf("stream %s has %d replicas, want 3", name, got)
		}
	}
	if n < 13 { // 5 streams, 7 buckets, 1 object store
		t.Errorf("%d streams, want at least 13", n)
	}
	// A process started with the default --replicas 1 keeps R3.
	if _, err := natsx.Ensure(ctx, js, natsx.Layout{Replicas: 1}); err != nil {
		t.Fatalf("Ensure R1 after R3: %v", err)
	}
	for name := range js.StreamNames(ctx).Name() {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().Config.Replicas; got != 3 {
			t.Errorf("stream %s went down to %d replicas after an R1 Ensure", name, got)
		}
	}
	kv, err := js.KeyValue(ctx, natsx.BucketJobs)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "01JOB"); err != nil || string(e.Value()) != "record" {
		t.Fatalf("record after scaling up: %v", err)
	}
}

// TestEnsure_replicas_on_a_single_server: --replicas 3 against a server
// that is not clustered fails with an error that says what to change.
func TestEnsure_replicas_on_a_single_server(t *testing.T) {
	_, err := natsx.Ensure(ctxT(t), bare(t), natsx.Layout{Replicas: 3})
	if err == nil || !strings.Contains(err.Error(), "--replicas 1") {
		t.Fatalf("Ensure R3 on one server: %v", err)
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("the JetStream error is not kept: %v", err)
	}
}
