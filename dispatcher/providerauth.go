package dispatcher

import (
	"context"
	"errors"
	"github.com/cpibroker/cpibroker/jobs"
	"net/http"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/cpiclient"
	"github.com/cpibroker/cpibroker/internal/cpitoken"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// TokenFailureObserver is implemented by an Observer that counts failed
// token fetches per provider (internal/metrics does).
type TokenFailureObserver interface {
	// TokenFailure counts one attempt that got no token: reason is
	// "refused" (the token endpoint refused the credentials) or
	// "unavailable" (no answer, 5xx, 429).
	TokenFailure(ctx context.Context, provider, reason string)
}

// waitProviderAuth hands a job back after CPI refused the provider's
// credentials: the attempt is not counted (the job did nothing wrong), the
// record keeps last_attempt (code provider_auth, so the job shows
// waiting.reason provider_auth) and the job is tried again after
// ProviderAuthRetry, when a corrected secret (PATCH) is picked up by
// itself.
func (d *Dispatcher) waitProviderAuth(ctx context.Context, a *pulled, resp *cpiclient.Response) error {
	if resp != nil && resp.BodyRef != "" {
		d.store.DropResult(ctx, resp.BodyRef)
	}
	a.span.AddEvent("provider_auth", trace.WithAttributes(attribute.String("provider", a.flow.Provider),
		attribute.String("reason", a.last.GetMessage())))
	return d.reschedule(ctx, a, d.cfg.ProviderAuthRetry, jobs.WaitCredentials)
}

// noteCredentials records what an attempt says about the provider's
// runtime credentials: refused (provider_auth), accepted (CPI answered
// anything else), or nothing (no answer). The provider's health changes,
// with one WARN line from the one process that records the change, only
// when the state changes; the token failure metric counts every attempt
// that got no token.
func (d *Dispatcher) noteCredentials(ctx context.Context, provider string, out outcome, resp *cpiclient.Response, callErr error, la *cpibv1.Attempt) {
	if errors.Is(callErr, cpiclient.ErrTokenFetch) {
		reason := "unavailable"
		if errors.Is(callErr, cpitoken.ErrRefused) {
			reason = "refused"
		}
		if o, ok := d.cfg.Observer.(TokenFailureObserver); ok {
			o.TokenFailure(ctx, provider, reason)
		}
	}
	var accepted bool
	switch {
	case out == providerAuth:
	case resp != nil && resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden:
		accepted = true
	default:
		return // no answer: says nothing about the credentials
	}
	reason := ""
	if !accepted {
		reason = la.GetMessage()
	}
	prev, changed, err := d.cat.ReportCredentials(ctx, provider, catalog.CredentialsRuntime, accepted, reason, d.cfg.Now())
	switch {
	case err != nil:
		d.cfg.Logger.Warn("dispatcher: recording provider health failed", "provider", provider, "err", err)
	case changed && accepted && prev == catalog.HealthProviderAuth:
		d.cfg.Logger.Warn("provider runtime credentials accepted again; jobs waiting with provider_auth resume", "provider", provider)
	case changed && !accepted:
		d.cfg.Logger.Warn("provider runtime credentials refused by CPI; its jobs wait with waiting.reason provider_auth and consume no attempt",
			"provider", provider, "reason", reason)
	}
}
