package workqueue_test

import (
	"testing"

	"github.com/cpibroker/cpibroker/internal/workqueue"
	"github.com/nats-io/nats.go"
)

// TestOnAdvisory: a consumer-created advisory names the consumer to pull
// from; garbage is ignored, and a full channel never blocks NATS delivery.
func TestOnAdvisory(t *testing.T) {
	out := make(chan string, 1)
	h := workqueue.OnAdvisory(out)
	for _, data := range []string{`not json`, `{}`, `{"consumer":""}`, `{"stream":"JOBS"}`} {
		h(&nats.Msg{Data: []byte(data)})
	}
	select {
	case name := <-out:
		t.Fatalf("garbage advisory produced %q", name)
	default:
	}
	h(&nats.Msg{Data: []byte(`{"type":"io.nats.jetstream.advisory.v1.consumer_action","stream":"JOBS","consumer":"q_acme_echo","action":"create"}`)})
	h(&nats.Msg{Data: []byte(`{"consumer":"q_acme_slow"}`)}) // channel full: dropped, not blocked
	if name := <-out; name != "q_acme_echo" {
		t.Fatalf("advisory consumer = %q", name)
	}
}
