package dispatcher

import (
	"errors"
	"net/http"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/cpiclient"
	"github.com/cpibroker/cpibroker/internal/cpitoken"
	"github.com/cpibroker/cpibroker/internal/workqueue"
)

// outcome is what an attempt's answer means for the job (DESIGN 5).
type outcome int

const (
	// succeeded: 2xx.
	succeeded outcome = iota
	// businessError: CPI answered with a non-retryable status; the job
	// fails with cpi_error and CPI's body is kept as the result.
	businessError
	// retryable: network error, timeout, 408, 429, 502, 503, 504, and 500
	// when the policy says so.
	retryable
	// providerAuth: CPI refused the provider's credentials (the token
	// endpoint refused them, or 401/403 survived the token refetch). It is
	// the provider's problem, not the job's: the job waits without
	// consuming an attempt.
	providerAuth
)

// classify maps a CPI answer to an outcome. breakerFailure says whether the
// answer counts against the flow's circuit breaker: a credential refusal
// does not (it is the provider's, not the flow's, and jobs wait for it
// with their own reason).
func classify(resp *cpiclient.Response, err error, p catalog.Policy) (o outcome, breakerFailure bool) {
	if errors.Is(err, cpitoken.ErrRefused) {
		return providerAuth, false
	}
	if err != nil {
		return retryable, true
	}
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return succeeded, false
	case s == http.StatusTooManyRequests, s == http.StatusBadGateway,
		s == http.StatusServiceUnavailable, s == http.StatusGatewayTimeout:
		return retryable, true
	case s == http.StatusRequestTimeout:
		return retryable, false
	case s == http.StatusInternalServerError && p.RetryOn500:
		return retryable, true
	case s == http.StatusUnauthorized, s == http.StatusForbidden:
		return providerAuth, false
	default:
		return businessError, false
	}
}

// backoff returns the wait before attempt+1: exponential with full jitter,
// at least Retry-After when CPI sent one (capped at the policy's cap).
func backoff(p catalog.Policy, attempt uint32, resp *cpiclient.Response, now time.Time, rnd func() float64) time.Duration {
	ceil := p.BackoffBase.D()
	for i := uint32(1); i < attempt && ceil < p.BackoffCap.D(); i++ {
		ceil *= 2
	}
	ceil = min(ceil, p.BackoffCap.D())
	d := time.Duration(rnd() * float64(ceil))
	if ra := retryAfter(resp, now); ra > d {
		d = min(ra, p.BackoffCap.D())
	}
	return d
}

// retryAfter is CPI's Retry-After (seconds or HTTP date), 0 without one.
func retryAfter(resp *cpiclient.Response, now time.Time) time.Duration {
	if resp == nil {
		return 0
	}
	return workqueue.RetryAfter(resp.Header.Get("Retry-After"), now)
}
