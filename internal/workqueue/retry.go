package workqueue

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// maxRetryAfter bounds a Retry-After in seconds before it becomes a
// Duration (no overflow; 68 years is past every cap anyway).
const maxRetryAfter = 1 << 31

// RetryAfter parses a Retry-After header value: whole seconds or an HTTP
// date after now. Anything else, or nothing, is 0; callers cap the result
// with their own maximum.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(min(n, maxRetryAfter)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// ScheduleAt is when a retry waiting wait from now fires: message
// schedules have whole-second precision, so the next whole second after
// now+wait (never earlier than asked).
func ScheduleAt(now time.Time, wait time.Duration) time.Time {
	return now.Add(wait).Truncate(time.Second).Add(time.Second)
}

// ScheduleRetry publishes the next attempt of a message as an ADR-51
// message schedule on subject (one pending schedule per message: a new
// one replaces it), firing at at onto target, where the queue's consumer
// pulls it. The waiting retry holds no ack slot and no memory.
//
// Publish the schedule first, then ack the current message: a crash in
// between repeats the attempt (at least once), it never loses it.
func ScheduleRetry(ctx context.Context, js jetstream.JetStream, subject, target string, data []byte, h nats.Header, at time.Time) error {
	msg := &nats.Msg{Subject: subject, Data: data, Header: h}
	if _, err := js.PublishMsg(ctx, msg, jetstream.WithScheduleAt(at), jetstream.WithScheduleTarget(target)); err != nil {
		return fmt.Errorf("workqueue: schedule on %s: %w", subject, err)
	}
	return nil
}
