package ingress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/webhook"
	"github.com/nats-io/nats.go/jetstream"
)

// callbackOriginIdle is how long a Callback-URL origin counts against its
// client's bound after its last use; callbackOriginTouch is how often a
// use in progress is written down again.
const (
	callbackOriginIdle  = time.Hour
	callbackOriginTouch = time.Minute
)

// admitCallbackOrigin counts the origin (lane) of Callback-URL u against
// the client's bound on distinct callback targets: each origin gets its
// own delivery consumer and lane, which all clients share the DELIVERIES
// stream's consumer cap and the dispatchers' memory for. The set of a
// client's origins is one key of the cpib-callbacks bucket, updated with
// compare-and-set, so every ingress enforces the same bound. An origin
// unused for callbackOriginIdle frees its place.
func (s *Server) admitCallbackOrigin(ctx context.Context, cl catalog.Client, u string) *apiError {
	kv := s.deps.Resources.Callbacks
	if kv == nil {
		return nil
	}
	lane, err := webhook.CallbackLane(u)
	if err != nil {
		return problem(http.StatusBadRequest, "callback_not_allowed", err.Error())
	}
	limit := cl.CallbackTargets()
	now := s.cfg.Now()
	for range 8 {
		origins := map[string]int64{} // lane -> last use, Unix seconds
		var rev uint64
		e, err := kv.Get(ctx, cl.ID)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "callback targets cannot be checked now", RetryAfter: 2}
		default:
			rev = e.Revision()
			_ = json.Unmarshal(e.Value(), &origins)
		}
		if last, ok := origins[lane]; ok && now.Sub(time.Unix(last, 0)) < callbackOriginTouch {
			return nil
		}
		for l, last := range origins {
			if now.Sub(time.Unix(last, 0)) > callbackOriginIdle {
				delete(origins, l)
			}
		}
		if _, ok := origins[lane]; !ok && len(origins) >= limit {
			return &apiError{Status: http.StatusTooManyRequests, Code: "too_many_callback_targets",
				Detail:     fmt.Sprintf("this client already uses %d distinct Callback-URL origins (scheme, host, port), its limit; an origin unused for %s frees its place", len(origins), callbackOriginIdle),
				RetryAfter: int(callbackOriginTouch / time.Second)}
		}
		origins[lane] = now.Unix()
		b, _ := json.Marshal(origins)
		if rev == 0 {
			_, err = kv.Create(ctx, cl.ID, b)
		} else {
			_, err = kv.Update(ctx, cl.ID, b, rev)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "callback targets cannot be recorded now", RetryAfter: 2}
		}
	}
	return &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "callback targets are contended; retry", RetryAfter: 1}
}
