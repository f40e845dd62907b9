package dispatcher_test

import (
	"testing"

	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/dispatcher"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/internal/workqueue/wqtest"
)

// TestJobsOnTheWorkQueueEngine runs the engine's conformance suite with the
// job consumers (their names, subjects and ack wait). Job subjects carry
// job IDs and are not listed, so the dispatcher repairs only the consumers
// it retired itself (the expiry sweeper repairs the others).
func TestJobsOnTheWorkQueueEngine(t *testing.T) {
	t.Parallel()
	_, _, res := testkit.NATS(t)
	wqtest.Run(t, wqtest.Queue{
		JS: res.JS, Stream: res.Jobs,
		Engine: dispatcher.JobQueue(res),
		Keys: []wqtest.Key{{Client: "acme", Name: "orphan"}, {Client: "acme", Name: "deleted"},
			{Client: "acme", Name: "shutdown"}, {Client: "beta", Name: "crash"}, {Client: "beta", Name: "never"}},
		Subject:         func(k wqtest.Key) string { return natsx.QueueSubject(k.Client, k.Name, "01JWQTEST0000000000000000") },
		Consumer:        func(k wqtest.Key) string { return natsx.ConsumerName(natsx.KindQueue, k.Client, k.Name) },
		ScheduleSubject: natsx.ScheduleSubject,
	})
}
