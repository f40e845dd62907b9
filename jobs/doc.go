// Package jobs owns the job: its ID, its message on the JOBS stream, its
// record in the cpib-jobs bucket, its idempotency entry, its payload
// objects, and the partner-facing JSON resource of DESIGN 2.4. The ingress
// submits, reads, waits on and cancels jobs through a Store; the dispatcher
// moves records between states with compare-and-set through the same Store.
package jobs
