package bench

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// snapshot is the JetStream state the cost accounting compares before and
// after the e2e phase.
type snapshot struct {
	// streams maps every stream of the account to its last sequence.
	streams map[string]uint64
	// consumers maps every consumer of the JOBS stream to its state.
	consumers map[string]consumerState
}

// consumerState is the part of a consumer's info that counts acks.
type consumerState struct {
	// delivered is the consumer sequence of the last delivery, which counts
	// every delivery, redeliveries included.
	delivered uint64
	// ackPending is how many deliveries wait for an ack (or a redelivery).
	ackPending uint64
}

// resolved is how many deliveries are no longer pending: each was acked,
// or nak'ed / timed out and redelivered (a newer delivery took its place).
func (c consumerState) resolved() uint64 {
	if c.delivered < c.ackPending {
		return 0
	}
	return c.delivered - c.ackPending
}

// Writes is the measured number of JetStream writes during the e2e phase.
//
//	writes = Σ over every stream s of (last_seq_after(s) − last_seq_before(s))
//	       + Σ over every JOBS consumer c of (resolved_after(c) − resolved_before(c))
//	resolved(c) = delivered.consumer_seq(c) − num_ack_pending(c)
//
// A stream or consumer absent before counts from 0 (consumers are created
// when a client first submits to a flow, and for retries). Each stored
// message (a job, a KV put or delete, an object chunk, an event, a DLQ
// entry, a fired schedule) moves its stream's last sequence by one; each
// ack (or nak) resolves one delivery. A consumer deleted during the phase
// loses its acks from the count and is listed in ConsumersGone.
// js_writes_per_job is Total divided by the jobs accepted in the phase.
type Writes struct {
	// Streams is the last-sequence delta per stream (zero deltas omitted).
	Streams map[string]int64 `json:"streams"`
	// Acks is the resolved-delivery delta summed over the JOBS consumers.
	Acks int64 `json:"acks"`
	// Total is the sum of Streams and Acks.
	Total int64 `json:"total"`
	// ConsumersGone lists JOBS consumers present before but not after.
	ConsumersGone []string `json:"consumers_gone,omitempty"`
}

// countWrites applies the formula of Writes.
func countWrites(before, after snapshot) Writes {
	w := Writes{Streams: map[string]int64{}}
	for name, last := range after.streams {
		prev := before.streams[name]
		if last < prev { // recreated during the phase: all of it is new
			prev = 0
		}
		if d := int64(last - prev); d != 0 {
			w.Streams[name] = d
			w.Total += d
		}
	}
	for name, c := range after.consumers {
		prev := before.consumers[name].resolved()
		if c.resolved() >= prev {
			w.Acks += int64(c.resolved() - prev)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(before.consumers)) {
		if _, ok := after.consumers[name]; !ok {
			w.ConsumersGone = append(w.ConsumersGone, name)
		}
	}
	w.Total += w.Acks
	return w
}

// APICalls is the measured number of JetStream API requests during the
// e2e phase, from the account's API counter (js.AccountInfo → API.Total):
//
//	api_calls = (API.Total_after − API.Total_before) − own
//
// where own are the benchmark's requests between the two readings: the
// first AccountInfo request itself (the server counts a request after
// building its answer, so each reading excludes itself and the next
// includes it) plus the JOBS stream-info polls that detect the end of the
// drain. Pull requests, acks, direct gets and publishes (KV puts included)
// are not API requests and do not move the counter. js_api_calls_per_job
// is Total divided by the jobs accepted in the phase.
type APICalls struct {
	// CounterDelta is API.Total_after − API.Total_before.
	CounterDelta int64 `json:"counter_delta"`
	// Own is the benchmark's own requests counted in CounterDelta.
	Own int64 `json:"own"`
	// Total is CounterDelta − Own: the broker's requests.
	Total int64 `json:"total"`
}

// countAPICalls applies the formula of APICalls.
func countAPICalls(before, after uint64, own int64) APICalls {
	d := int64(after) - int64(before)
	return APICalls{CounterDelta: d, Own: own, Total: max(d-own, 0)}
}

// perJob divides a count by the jobs accepted (0 when none).
func perJob(n int64, jobs int64) float64 {
	if jobs <= 0 {
		return 0
	}
	return round(float64(n)/float64(jobs), 3)
}

// takeSnapshot lists every stream with its state and the JOBS consumers.
// It makes JetStream API requests: call it outside the window measured by
// the API counter (before the first reading, after the second).
func takeSnapshot(ctx context.Context, js jetstream.JetStream, jobsStream string) (snapshot, error) {
	s := snapshot{streams: map[string]uint64{}, consumers: map[string]consumerState{}}
	streams := js.ListStreams(ctx)
	for info := range streams.Info() {
		s.streams[info.Config.Name] = info.State.LastSeq
	}
	if err := streams.Err(); err != nil {
		return s, fmt.Errorf("bench: list streams: %w", err)
	}
	st, err := js.Stream(ctx, jobsStream)
	if err != nil {
		return s, fmt.Errorf("bench: stream %s: %w", jobsStream, err)
	}
	cons := st.ListConsumers(ctx)
	for info := range cons.Info() {
		s.consumers[info.Name] = consumerState{delivered: info.Delivered.Consumer, ackPending: uint64(info.NumAckPending)}
	}
	if err := cons.Err(); err != nil {
		return s, fmt.Errorf("bench: list consumers of %s: %w", jobsStream, err)
	}
	return s, nil
}

// apiTotal reads the account's JetStream API counter. The request itself
// is counted by the server after it answers (see APICalls).
func apiTotal(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	info, err := js.AccountInfo(ctx)
	if err != nil {
		return 0, fmt.Errorf("bench: account info: %w", err)
	}
	return info.API.Total, nil
}
