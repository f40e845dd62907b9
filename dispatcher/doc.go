// Package dispatcher owns getting jobs from JetStream to CPI and back:
// discovering the per-(client, flow) consumers, deciding which to pull from
// and how much, invoking the iFlow, classifying the answer, scheduling
// retries, writing results, and keeping failed jobs in the DLQ.
//
// One durable pull consumer per (client, flow) holds new jobs, and a second
// one per (client, flow) holds jobs whose retry backoff has elapsed, so a
// retry never queues behind the backlog. A job is pulled only when a
// dispatch slot is free, so jobs that cannot run wait in JetStream, not in
// memory. Retries wait as JetStream message schedules, holding no ack slot.
package dispatcher
