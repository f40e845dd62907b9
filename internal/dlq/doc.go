// Package dlq reads and replays the DLQ stream: failed jobs on
// cpib.dlq.<client>.<flow> and exhausted or refused webhook deliveries on
// cpib.dlq.<client>.<flow>.callback. The admin API serves it.
//
// Replay covers deliveries: the delivery goes back to its lane with its
// attempts reset and its DLQ message is removed. Job replay (a new run of
// the job, DESIGN 5) is not implemented here; job entries are listed and
// reported as skipped by Replay.
package dlq
