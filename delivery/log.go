package delivery

import (
	"context"
	"sync"
	"time"

	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// EndpointObserver is implemented by an Observer that also wants to know
// when an endpoint starts or stops failing (internal/metrics counts the
// failing endpoints per client).
type EndpointObserver interface {
	CallbackEndpoint(ctx context.Context, client string, failing bool)
}

// endpointStates remembers, per lane, whether its last attempt failed, so a
// failing endpoint is logged at WARN once when it starts failing and once
// when it recovers, not at every retry.
type endpointStates struct {
	mu      sync.Mutex
	failing map[string]bool
}

// change records the lane's latest outcome and reports whether its state
// flipped.
func (e *endpointStates) change(lane string, failing bool) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failing == nil {
		e.failing = map[string]bool{}
	}
	was := e.failing[lane]
	if !failing {
		delete(e.failing, lane) // healthy is the default: the map holds failing lanes only
	} else {
		e.failing[lane] = true
	}
	return was != failing
}

// logAttempt appends the attempt to the delivery log, and logs and counts
// an endpoint that starts or stops failing. The delivery log is best
// effort: a failed append never holds up the delivery.
func (d *Deliverer) logAttempt(ctx context.Context, l *lane, task *cpibv1.Delivery, url string, started time.Time, out outcome) {
	took := d.cfg.Now().Sub(started)
	a := &cpibv1.DeliveryAttempt{
		TaskId: task.GetId(), EventId: task.GetEventId(), EventType: task.GetEventType(),
		Client: task.GetClient(), Flow: task.GetFlow(), JobId: task.GetJobId(), Run: task.GetRun(),
		Lane: task.GetLane(), WebhookId: task.GetWebhookId(), Url: url,
		Attempt: task.GetAttempts() + 1, Replay: task.GetReplays(), EventSeq: task.GetEventSeq(),
		At: timestamppb.New(started), Duration: durationpb.New(took),
		Status: int32(out.status), Outcome: outcomeName(out.v),
	}
	if out.v != delivered {
		a.Error = out.err
	}
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		a.TraceId = sc.TraceID().String()
	}
	if err := d.attempts.Record(ctx, a); err != nil {
		d.cfg.Logger.WarnContext(ctx, "delivery: attempt not logged", "job_id", task.GetJobId(), "err", err)
	}
	failing := out.v != delivered
	if !d.endpoints.change(l.name, failing) {
		return
	}
	if o, ok := d.cfg.Observer.(EndpointObserver); ok {
		o.CallbackEndpoint(ctx, task.GetClient(), failing)
	}
	if failing {
		d.cfg.Logger.WarnContext(ctx, "delivery: endpoint failing", "client_id", task.GetClient(),
			"endpoint", task.GetLane(), "url", url, "status", out.status, "outcome", outcomeName(out.v), "err", out.err)
	} else {
		d.cfg.Logger.WarnContext(ctx, "delivery: endpoint recovered", "client_id", task.GetClient(),
			"endpoint", task.GetLane(), "url", url, "status", out.status)
	}
}
