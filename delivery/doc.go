// Package delivery delivers job events to partners' webhooks and
// Callback-URLs (DESIGN 7.1), signed per Standard Webhooks v1.
//
// Flow: the dispatcher appends one terminal event per run to EVENTS
// (cpib.events.<client>). A durable consumer ("fanout") turns each event
// into one delivery task per target (the client's enabled webhooks that
// subscribe to its type, and the job's Callback-URL) on the DELIVERIES
// stream, cpib.deliveries.q.<client>.<lane>. A lane is one endpoint: a
// webhook ("w-<id>") or a Callback-URL origin ("c-<hash>"). Each lane has
// its own durable consumer, pulled only while the lane has a free slot
// (Config.EndpointConcurrency), and its own circuit breaker, so a slow or
// dead receiver's backlog waits in JetStream and never delays another
// receiver.
//
// An attempt is a POST of the event JSON with webhook-id (the event ID, the
// same on every attempt), webhook-timestamp and webhook-signature (one v1
// signature per valid secret during a rotation). 2xx is success. 429, 5xx,
// 408, timeouts and network errors are retried on Config.Schedule
// (jittered, at least Retry-After) as JetStream message schedules on
// cpib.deliveries.s.<task>, holding no ack slot while they wait. 410
// disables a webhook (enabled=false, disabled_reason) and keeps the
// delivery in the DLQ. Redirects (3xx) and other 4xx are not retried.
// Exhausted, rejected and refused deliveries are kept on
// cpib.dlq.<client>.<flow>.callback, replayable through the admin API
// (Replay puts one back on its lane).
//
// The lanes run on the work-queue engine (internal/workqueue) that also
// runs the dispatcher's job consumers: the delivery plugs in its slot
// admission and its handler. It is a sibling of the dispatcher, not a part
// of it: it imports nothing from dispatcher/. Below it, delivery/webhook
// holds signing, lanes and the Callback-URL origin bound, and
// delivery/deliverylog the ATTEMPTS stream.
package delivery
