package dispatcher

import (
	"context"
	"log/slog"
	"time"

	"github.com/cpibroker/cpibroker/internal/cpiclient"
	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
)

// Observer receives the dispatcher's measurements (internal/metrics
// implements it; completed runs are counted by jobs, see jobs.Observer). Its methods must be cheap and must not block.
type Observer interface {
	// CPICall records one iFlow call: CPI's status (0 without an answer)
	// and how long the call took.
	CPICall(ctx context.Context, flow string, status int, took time.Duration)
}

type noObserver struct{}

func (noObserver) CPICall(context.Context, string, int, time.Duration) {}

// statusOf is CPI's status code, 0 without an answer.
func statusOf(r *cpiclient.Response) int {
	if r == nil {
		return 0
	}
	return r.StatusCode
}

// jobAttrs are the log attributes of a job-related line.
func jobAttrs(j interface {
	GetId() string
	GetClient() string
	GetFlow() string
}) []any {
	return []any{"job_id", j.GetId(), "client_id", j.GetClient(), "flow_id", j.GetFlow()}
}

// logFinished logs a run's terminal state: debug for a success, info for
// a failure (what an operator looks for).
func (d *Dispatcher) logFinished(ctx context.Context, a *pulled, st cpibv1.JobStatus, jerr *cpibv1.JobError) {
	level := slog.LevelDebug
	if st != cpibv1.JobStatus_JOB_STATUS_SUCCEEDED {
		level = slog.LevelInfo
	}
	if !d.cfg.Logger.Enabled(ctx, level) {
		return
	}
	attrs := append(jobAttrs(a.job), "run", a.job.GetRun(), "attempts", a.rec.GetAttempts(), "status", jobs.StatusName(st))
	if jerr != nil {
		attrs = append(attrs, "code", jerr.GetCode(), "error", jerr.GetMessage())
	}
	d.cfg.Logger.Log(ctx, level, "dispatcher: job finished", attrs...)
}
