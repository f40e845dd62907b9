package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/metrics"
	"github.com/cpibroker/cpibroker/internal/natsx"
)

// A job accepted while a listing runs may be missing from it: it must stay
// counted after the listing, or a client could pass max_backlog.
func TestBacklogKeepsJobsAcceptedDuringAListing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _, res := testkit.NATS(t)
	if _, err := natsx.EnsureConsumer(ctx, res.JS, natsx.KindQueue, "acme", "echo", time.Minute); err != nil {
		t.Fatal(err)
	}
	publish := func() {
		if _, err := res.JS.Publish(ctx, natsx.QueueSubject("acme", "echo", "01J00000000000000000000000"), []byte("job")); err != nil {
			t.Fatal(err)
		}
	}
	b := metrics.NewBacklogSampler(res.JS, time.Hour)
	publish()
	b.Accepted("acme")
	if got := b.Queued("acme"); got != 1 {
		t.Fatalf("before any listing: %d queued, want 1", got)
	}
	// The second job is accepted after the listing read the consumers.
	metrics.SetListed(b, func() { publish(); b.Accepted("acme"); metrics.SetListed(b, nil) })
	b.Refresh(ctx)
	if got := b.Queued("acme"); got != 2 {
		t.Fatalf("after a listing that missed a job accepted during it: %d queued, want 2", got)
	}
	b.Refresh(ctx)
	if got := b.Queued("acme"); got != 2 {
		t.Fatalf("after the next listing: %d queued, want 2", got)
	}
}
