// Package dispatcher owns getting jobs from JetStream to CPI and back:
// deciding which per-(client, flow) consumer to pull from and how much
// (slots, quotas in dispatcher/quota, breakers shared through
// dispatcher/state), invoking the iFlow, classifying the answer,
// scheduling retries, writing results, and keeping failed jobs in the DLQ.
// The consumers themselves (registry, reconcile, idle retirement,
// shutdown hand-back) run on the work-queue engine, internal/workqueue;
// the dispatcher plugs in its admission before pull and its long-poll.
//
// One durable pull consumer per (client, flow) holds new jobs, and a second
// one per (client, flow) holds jobs whose retry backoff has elapsed, so a
// retry never queues behind the backlog. A job is pulled only when a
// dispatch slot is free, so jobs that cannot run wait in JetStream, not in
// memory. Retries wait as JetStream message schedules, holding no ack slot.
package dispatcher
