// Package dlq is the one author of the DLQ format: the subjects (failed
// jobs on cpib.dlq.<client>.<flow>, exhausted or refused webhook
// deliveries on cpib.dlq.<client>.<flow>.callback), the headers and codes
// that say why an entry was kept, the writers (WriteJob, WriteUndecodable,
// WriteDelivery) the dispatcher and the deliverer call, and the reader
// (List, Replay's decoding) the admin API serves.
//
// Replay removes an entry once the package that owns its work has put it
// back: a failed job starts a new run through jobs (DESIGN 5: run+1,
// attempts from 0, status queued, on its queue subject), a dead delivery
// goes back to its lane through delivery. The DLQ imports neither, so it
// stays shared infrastructure.
package dlq
