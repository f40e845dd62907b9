package ingress

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/delivery/webhook"
)

// admitCallbackOrigin counts the origin (lane) of Callback-URL u against
// the client's bound on distinct callback targets (webhook.AdmitOrigin).
func (s *Server) admitCallbackOrigin(ctx context.Context, cl catalog.Client, u string) *apiError {
	kv := s.deps.Resources.Callbacks
	if kv == nil {
		return nil
	}
	lane, err := webhook.CallbackLane(u)
	if err != nil {
		return problem(http.StatusBadRequest, "callback_not_allowed", err.Error())
	}
	err = webhook.AdmitOrigin(ctx, kv, cl.ID, lane, cl.CallbackTargets(), s.cfg.Now())
	var many *webhook.TooManyOriginsError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &many):
		return &apiError{Status: http.StatusTooManyRequests, Code: "too_many_callback_targets",
			Detail:     fmt.Sprintf("this client already uses %d distinct Callback-URL origins (scheme, host, port), its limit; an origin unused for %s frees its place", many.InUse, webhook.OriginIdle),
			RetryAfter: int(webhook.OriginTouch.Seconds())}
	case errors.Is(err, webhook.ErrOriginsContended):
		return &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "callback targets are contended; retry", RetryAfter: 1}
	}
	return &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "callback targets cannot be checked now", RetryAfter: 2}
}
