// Package dlq reads and replays the DLQ stream: failed jobs on
// cpib.dlq.<client>.<flow> and exhausted or refused webhook deliveries on
// cpib.dlq.<client>.<flow>.callback. The admin API serves it.
//
// Replay of a failed job starts a new run of it (DESIGN 5): run+1,
// attempts from 0, status queued, on its queue subject, where the
// dispatchers pace it by the same quotas as any job; replay of a dead
// delivery puts it back on its lane with its attempts reset. Either way
// the DLQ message is removed.
package dlq
