package cpiclient

import "errors"

// Sentinel errors returned by [Client.Invoke]; test them with errors.Is.
var (
	// ErrTimeout wraps a call that ran out of time: the request's Timeout,
	// the caller's context deadline, or a network timeout. The underlying
	// error (e.g. context.DeadlineExceeded) is wrapped too.
	ErrTimeout = errors.New("cpi call timed out")
	// ErrResponseTooLarge is returned when a response body exceeds
	// Config.MaxResponseBody.
	ErrResponseTooLarge = errors.New("cpi response too large")
	// ErrTokenFetch is returned when no OAuth token could be obtained; the
	// message names the token endpoint's status and OAuth error when it
	// answered. errors.Is(err, cpitoken.ErrRefused) tells a refusal (the
	// provider's credentials or token_auth are wrong) from an outage.
	ErrTokenFetch = errors.New("fetching cpi oauth token")
	// ErrInvalidConfig wraps every problem found by [Config.Validate].
	ErrInvalidConfig = errors.New("invalid cpiclient config")
	// ErrInvalidRequest is returned for a [Request] that cannot be sent
	// (e.g. a URL that is not absolute http or https).
	ErrInvalidRequest = errors.New("invalid cpi request")
)
