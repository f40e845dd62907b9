// Package workqueue is the one JetStream work-queue engine under jobs
// (dispatcher) and callback deliveries (delivery): a stream whose subjects
// carry a key each (a client's flow, a client's callback lane), with one
// durable consumer per key, created on demand and retired when idle.
//
// It owns the mechanics that are the same for every such queue, so they are
// written and tested once:
//
//   - Registry: one runner per consumer, started from consumer-created
//     advisories and a periodic reconcile that also gives a consumer back
//     to any subject that holds messages without one (an idle consumer
//     retired just as a message arrived), and stopped together;
//   - Pull: the pull loop of a runner that admits one message per free
//     slot, backs off on pull errors, ends when its consumer is deleted and
//     retires its consumer once idle;
//   - Work: the messages in flight, with the shutdown hand-back (no message
//     starts once closing; Close waits for those that did);
//   - Backoff, Gone and Retire, the pieces the dispatcher's own pull loop
//     (admission before pull, long-poll) shares with Pull;
//   - ScheduleRetry and RetryAfter: the next attempt as an ADR-51 message
//     schedule (published before the message is acked: a crash in between
//     repeats the attempt, never loses it) and the Retry-After header.
//
// Each user plugs in only its key scheme (consumer naming, subject
// parsing, consumer creation), its admission and its handler. The
// conformance suite in workqueue/wqtest runs against each user's key
// scheme and handler, the way Watermill's pub/sub test suite serves every
// backend.
package workqueue
