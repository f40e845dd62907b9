package jobs

import (
	"time"

	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// NextRun returns the message of a new run of job after run (DESIGN 5
// "Runs and replay"): run+1, attempts from 0, expiring after the job's
// original time-to-live counted from now.
func NextRun(job *cpibv1.Job, run uint32, now time.Time) *cpibv1.Job {
	next := proto.CloneOf(job)
	next.Run, next.Attempts = run+1, 0
	ttl := job.GetExpiresAt().AsTime().Sub(job.GetCreatedAt().AsTime())
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	next.ExpiresAt = timestamppb.New(now.Add(ttl))
	return next
}

// StartRun turns rec, whose run ended, into the queued record of job's new
// run: status queued, attempts 0, no result, error or completion.
func StartRun(rec *cpibv1.JobRecord, job *cpibv1.Job, now time.Time) {
	rec.Status = cpibv1.JobStatus_JOB_STATUS_QUEUED
	rec.Run, rec.Attempts = job.GetRun(), 0
	rec.UpdatedAt, rec.ExpiresAt = timestamppb.New(now), job.GetExpiresAt()
	rec.CompletedAt, rec.NextAttemptAt, rec.Result, rec.Error = nil, nil, nil, nil
	rec.DispatchSeq, rec.EventPublished = 0, false
	rec.LastAttempt = nil
}
