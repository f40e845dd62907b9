// Package lease owns named, time-limited leases in the cpib-leases KV
// bucket: "only one process at a time does X" across every process on the
// same JetStream (one discovery runner per provider, one expiry sweeper).
//
// A lease is one KV key whose value names its holder and its expiry. It is
// taken with Create (or, once expired, with a compare-and-set over the old
// revision), renewed with a compare-and-set on the revision the holder last
// wrote, and released with a delete bound to that revision, so a holder
// that lost its lease can never overwrite or delete the new holder's.
// Expiry is judged with the injected clock against the expiry the holder
// wrote, so the processes' clocks must agree to within a fraction of the
// TTL (NTP does that); the holder renews every TTL/3 by default.
package lease
