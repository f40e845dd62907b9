package dispatcher

import (
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
)

// expiryError is the error a job fails with when it was never dispatched
// and its expires_at has passed: flow_unavailable when its flow is gone or
// undeployed (it waited for the flow), else expired. nil when the job may
// still run.
func expiryError(rec *cpibv1.JobRecord, flow catalog.Flow, flowKnown bool, now time.Time) *cpibv1.JobError {
	if rec.GetStatus() != cpibv1.JobStatus_JOB_STATUS_QUEUED || rec.GetAttempts() != 0 ||
		rec.GetExpiresAt() == nil || !now.After(rec.GetExpiresAt().AsTime()) {
		return nil
	}
	if !flowKnown || flow.Status == catalog.FlowUnavailable {
		return &cpibv1.JobError{Code: jobs.CodeFlowUnavailable, Message: "the flow was unavailable until the job expired"}
	}
	return &cpibv1.JobError{Code: jobs.CodeExpired, Message: "the job was not dispatched before it expired"}
}
