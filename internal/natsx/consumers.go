package natsx

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Queue kinds: new jobs and jobs whose retry backoff has elapsed.
const (
	KindQueue = "q"
	KindRetry = "r"
)

// ConsumerName names the durable pull consumer of one (kind, client, flow).
// IDs never contain '_', so the name parses back with ParseConsumerName.
func ConsumerName(kind, client, flow string) string {
	return kind + "_" + client + "_" + flow
}

// ParseConsumerName splits a name made by ConsumerName.
func ParseConsumerName(name string) (kind, client, flow string, ok bool) {
	parts := strings.Split(name, "_")
	if len(parts) != 3 || (parts[0] != KindQueue && parts[0] != KindRetry) || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// ConsumerSubject is the subject filter of the consumer of (kind, client,
// flow): every job of the pair, cpib.jobs.<kind>.<client>.<flow>.>.
func ConsumerSubject(kind, client, flow string) string {
	if kind != KindRetry {
		kind = KindQueue
	}
	return "cpib.jobs." + kind + "." + client + "." + flow + ".>"
}

// EnsureConsumer creates (or updates) the durable pull consumer of
// (kind, client, flow) on the JOBS stream. It is idempotent.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, kind, client, flow string, ackWait time.Duration) (jetstream.Consumer, error) {
	c, err := js.CreateOrUpdateConsumer(ctx, StreamJobs, jetstream.ConsumerConfig{
		Durable:       ConsumerName(kind, client, flow),
		FilterSubject: ConsumerSubject(kind, client, flow),
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       ackWait,
		MaxAckPending: 10000,
		MaxDeliver:    -1,
	})
	if err != nil {
		return nil, fmt.Errorf("natsx: consumer %s: %w", ConsumerName(kind, client, flow), err)
	}
	return c, nil
}

// HasJobs reports whether the JOBS stream holds a message of (kind, client,
// flow): one direct get of the first message on the pair's subjects.
func HasJobs(ctx context.Context, jobs jetstream.Stream, kind, client, flow string) (bool, error) {
	_, err := jobs.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(ConsumerSubject(kind, client, flow)))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	return err == nil, err
}
