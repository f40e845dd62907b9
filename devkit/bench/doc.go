// Package bench is `cpibroker bench`, the load generator and benchmark of
// DESIGN 10. Everything runs in this process on one machine over loopback
// HTTP, in named phases, each on its own fresh embedded JetStream server and
// data directory:
//
//   - baseline: a bare Gin handler (gin.New(), no middleware) that does one
//     synchronous JetStream publish per request to a file-storage stream and
//     answers 202 after the PubAck. It is the reference every ratio divides
//     by. It is the only place besides ingress that imports Gin, because the
//     baseline must be exactly "Gin plus one publish".
//   - accept: the whole broker (ingress, dispatcher, catalog) with the CPI
//     simulator, dispatching paused (dispatcher.Dispatcher.Pause), so it
//     measures authenticated submits alone. One bearer token is fetched up
//     front, as a real partner would.
//   - e2e: the same with dispatching on: submits for the duration, then a
//     wait, without HTTP polling, until every accepted job is terminal.
//   - fairness: client A queues --flood jobs (dispatching paused while
//     they are accepted), then client B submits --fairness-rate jobs/s
//     while A's backlog drains; B's queue wait is compared with B alone.
//
// The bench iFlow is not CSRF protected (a CSRF-protected iFlow costs one
// token fetch per session and one header per call, not a per-job round
// trip), answers at once unless --cpi-latency, and the bench flow and client
// have no limits (policy rate 0, concurrency 0, no client quota) unless
// --non-binding-limits gives them limits that never bind.
//
// Every phase uses the same load generator (load.go): Concurrency
// goroutines sharing one http.Client whose transport keeps Concurrency idle
// connections per host, each sending the next request as soon as the
// previous one is answered, for Duration. Latencies go to a bounded-memory
// log-linear histogram (hist.go): exact to the microsecond below 2.048 ms,
// within 1/1024 above.
//
// JetStream cost per job (jsstats.go) is measured, not assumed; the exact
// formulas are on [Writes] and [APICalls].
//
// Lifecycle: [ParseArgs] or a literal [Config]; [Run] validates, runs the
// phases and returns a [Report]; [Report.WriteText] or encoding/json print it.
package bench
