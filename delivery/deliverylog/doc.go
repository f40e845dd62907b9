// Package deliverylog keeps the delivery log: every attempt to deliver a job
// event to a webhook or Callback-URL (time, target, status, duration,
// error), so "where is my callback?" has an answer without reading NATS.
//
// Attempts are appended to the ATTEMPTS stream on
// cpib.attempts.<client>.<job id>. The stream keeps at most
// natsx.Layout.MaxAttemptsPerJob attempts per job (the oldest dropped
// first) for the retention period, so the log is bounded per job and in
// time. Writing costs one publish per attempt, off the job's hot path;
// reading is one ordered-consumer scan of one subject.
package deliverylog
