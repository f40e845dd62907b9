package delivery_test

import (
	"testing"

	"github.com/cpibroker/cpibroker/delivery"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/internal/workqueue/wqtest"
)

// TestLanesOnTheWorkQueueEngine runs the engine's conformance suite with
// the lanes' consumers (their names, subjects and ack wait).
func TestLanesOnTheWorkQueueEngine(t *testing.T) {
	t.Parallel()
	_, _, res := testkit.NATS(t)
	wqtest.Run(t, wqtest.Queue{
		JS: res.JS, Stream: res.Deliveries,
		Engine:          delivery.LaneQueue(delivery.Config{}, res),
		Keys:            []wqtest.Key{{Client: "acme", Name: "w-orphan"}, {Client: "acme", Name: "w-deleted"}, {Client: "acme", Name: "c-0123456789abcdef"}, {Client: "beta", Name: "w-crash"}, {Client: "beta", Name: "w-never"}},
		Subject:         func(k wqtest.Key) string { return natsx.DeliverySubject(k.Client, k.Name) },
		Consumer:        func(k wqtest.Key) string { return natsx.LaneConsumer(k.Client, k.Name) },
		ScheduleSubject: natsx.DeliveryScheduleSubject,
		// The reconcile lists the lane subjects.
		Features: wqtest.Features{RepairsAnyOrphan: true},
	})
}

// TestDefaultScheduleIsACopy: no Config shares (and can change) another's
// schedule.
func TestDefaultScheduleIsACopy(t *testing.T) {
	delivery.DefaultSchedule()[0] = 0
	if delivery.DefaultSchedule()[0] == 0 {
		t.Fatal("DefaultSchedule shares its slice")
	}
}
