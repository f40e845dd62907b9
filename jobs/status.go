package jobs

import cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"

// Status names as they appear in the job resource.
const (
	StatusQueued    = "queued"
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusCanceled  = "canceled"
)

// StatusName returns the resource name of a status.
func StatusName(s cpibv1.JobStatus) string {
	switch s {
	case cpibv1.JobStatus_JOB_STATUS_QUEUED:
		return StatusQueued
	case cpibv1.JobStatus_JOB_STATUS_RUNNING:
		return StatusRunning
	case cpibv1.JobStatus_JOB_STATUS_SUCCEEDED:
		return StatusSucceeded
	case cpibv1.JobStatus_JOB_STATUS_FAILED:
		return StatusFailed
	case cpibv1.JobStatus_JOB_STATUS_CANCELED:
		return StatusCanceled
	}
	return "unknown"
}

// Terminal reports whether a run in this status has ended.
func Terminal(s cpibv1.JobStatus) bool {
	return s == cpibv1.JobStatus_JOB_STATUS_SUCCEEDED ||
		s == cpibv1.JobStatus_JOB_STATUS_FAILED ||
		s == cpibv1.JobStatus_JOB_STATUS_CANCELED
}

// Error codes of a failed or canceled run (DESIGN 2.4).
const (
	CodeCPIError          = "cpi_error"
	CodeAttemptsExhausted = "attempts_exhausted"
	CodeExpired           = "expired"
	CodeFlowUnavailable   = "flow_unavailable"
	CodeCanceled          = "canceled"
)
