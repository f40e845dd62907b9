package dispatcher

import (
	"context"
	"time"

	"github.com/cpibroker/cpibroker/internal/cpiclient"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// logFailedCall appends a failed CPI call to the job's attempt log (the
// console's job page lists every attempt). Successful calls are not
// logged: the record keeps them, so the happy path writes nothing more.
// Best effort: a failed append is logged and the job goes on.
func (d *Dispatcher) logFailedCall(ctx context.Context, a *pulled, out outcome, resp *cpiclient.Response, started time.Time) {
	la := a.last
	if out == succeeded || la == nil {
		return
	}
	names := map[outcome]string{businessError: "business_error", retryable: "retry", providerAuth: "provider_auth"}
	rec := &cpibv1.DispatchAttempt{
		JobId: a.job.GetId(), Client: a.job.GetClient(), Flow: a.job.GetFlow(), Run: a.rec.GetRun(),
		Attempt: a.rec.GetAttempts(), At: timestamppb.New(started), Duration: durationpb.New(time.Since(started)),
		Status: la.GetStatusCode(), Outcome: names[out], Code: la.GetCode(), Error: la.GetMessage(),
	}
	if rec.Outcome == "" {
		rec.Outcome = "failed"
	}
	if resp != nil {
		rec.CpiMessageId = resp.MessageID
	}
	if err := d.attemptLog.RecordDispatch(ctx, rec); err != nil {
		d.cfg.Logger.WarnContext(ctx, "dispatch: attempt not logged", "job_id", a.job.GetId(), "err", err)
	}
}
