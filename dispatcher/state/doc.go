// Package state owns the dispatch state that dispatchers share with every
// other process through KV: the circuit breaker record of each flow
// (bucket cpib-breakers) and the markers of (client, flow) pairs waiting
// for a quota (keys wait.<client>.<flow> in cpib-quota).
//
// Store is its only writer: dispatchers write records and markers through
// it, and an operator's breaker reset (the admin API) goes through
// Store.Reset, so no other package knows the records' keys or encoding.
// Cache follows the state with a watch, for the ingress to answer the
// admin breaker API and a job's waiting reason without a KV read per
// request; Cache.Waiting is that reason (DESIGN 2.4). A client's use of
// its calendar allowance is decoded by dispatcher/quota, which owns those
// keys.
package state
