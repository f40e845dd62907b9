// Package quota owns the global budgets of DESIGN 5: per-client rate and
// burst (a token bucket), concurrency and calendar allowances, and per-flow
// rate and concurrency, shared by every dispatcher through compare-and-set
// on the cpib-quota KV bucket.
//
// Budgets are leased in batches, so the hot path does not touch KV per job.
// Every key holds the whole truth for one budget:
//
//   - a token bucket (rate.c.<client>, rate.f.<flow>) keeps its tokens and
//     the tokens each dispatcher holds unused; the bucket refills only up to
//     burst minus what is held, so held plus free tokens never exceed the
//     burst and no window ever sees more than burst + rate×window calls;
//   - a concurrency budget (conc.c.<client>, conc.f.<flow>) keeps the
//     permits each dispatcher holds (in flight or about to be); their sum
//     never exceeds the limit;
//   - a calendar allowance (allow.c.<client>.<window start>) counts the calls
//     taken in one UTC minute, hour or day; unused ones are given back.
//
// Holds carry an expiry and are renewed while used, so the budget held by a
// dispatcher that died comes back after the hold TTL.
package quota
