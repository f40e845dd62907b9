// Package dispatchstate owns the dispatch state that dispatchers share with
// every other process through KV: the circuit breaker of each flow (bucket
// cpib-breakers) and the markers of (client, flow) pairs waiting for a quota
// (keys wait.<client>.<flow> in cpib-quota). Dispatchers write it; the
// ingress follows it with a watch to compute a job's waiting reason on read
// and to answer the admin breaker API, without a KV read per request.
package dispatchstate
