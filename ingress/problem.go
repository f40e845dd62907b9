package ingress

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/jobs"
	"github.com/gin-gonic/gin"
)

// apiError is the one typed HTTP error of the API. Handlers return it (or
// a sentinel that problemFor maps to it); writeProblem renders it as RFC
// 9457 application/problem+json with the stable code of DESIGN 2.6.
type apiError struct {
	Status     int
	Code       string
	Detail     string
	RetryAfter int // seconds; 0 = no header
	Challenge  string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Detail }

func problem(status int, code, detail string) *apiError {
	return &apiError{Status: status, Code: code, Detail: detail}
}

// problemJSON is the wire form.
type problemJSON struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code"`
}

// problemFor maps any error to the API error a caller sees.
func problemFor(err error) *apiError {
	var (
		ae       *apiError
		retired  *catalog.RetiredError
		taken    *catalog.ExternalIDTakenError
		tooLarge *catalog.TooLargeError
	)
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &retired):
		return problem(http.StatusConflict, "client_id_retired", retired.Error())
	case errors.As(err, &taken):
		return problem(http.StatusConflict, "external_id_taken", "external_ids: "+taken.Error())
	case errors.As(err, &tooLarge):
		return problem(http.StatusRequestEntityTooLarge, "record_too_large", tooLarge.Field+": "+tooLarge.Error())
	case errors.Is(err, catalog.ErrInvalid):
		return problem(http.StatusBadRequest, "invalid_request", err.Error())
	case errors.Is(err, catalog.ErrNotFound):
		return problem(http.StatusNotFound, "not_found", "no such resource")
	case errors.Is(err, catalog.ErrExists):
		return problem(http.StatusConflict, "already_exists", "a resource with this ID exists")
	case errors.Is(err, jobs.ErrNotFound):
		return problem(http.StatusNotFound, "job_not_found", "no such job")
	case errors.Is(err, jobs.ErrNotCancelable):
		return problem(http.StatusConflict, "not_cancelable", "only a queued job can be canceled")
	case errors.Is(err, jobs.ErrIdempotencyKeyReused):
		return problem(http.StatusUnprocessableEntity, "idempotency_key_reused", "this Idempotency-Key was used with a different request")
	case errors.Is(err, jobs.ErrIdempotencyKeyInUse):
		return &apiError{Status: http.StatusConflict, Code: "idempotency_key_in_use", Detail: "a request with this Idempotency-Key is still in flight", RetryAfter: 1}
	case errors.Is(err, jobs.ErrUnconfirmed):
		return &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "the job store did not confirm the job; it may have been stored: retry with the same Idempotency-Key to find out", RetryAfter: 2}
	case errors.Is(err, jobs.ErrUnavailable), errors.Is(err, jobs.ErrConflict):
		return &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "the job store is unavailable; nothing was stored", RetryAfter: 2}
	}
	return &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "temporarily unavailable", RetryAfter: 2}
}

// writeProblem renders err and aborts the request.
func writeProblem(c *gin.Context, err error) {
	ae := problemFor(err)
	if ae.Status >= 500 {
		_ = c.Error(err)
	}
	if ae.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(ae.RetryAfter))
	}
	if ae.Challenge != "" {
		c.Header("WWW-Authenticate", ae.Challenge)
	}
	c.Header("Cache-Control", "no-store")
	c.Render(ae.Status, jsonRender{contentType: "application/problem+json", v: problemJSON{
		Type: "urn:cpibroker:problem:" + ae.Code, Title: http.StatusText(ae.Status),
		Status: ae.Status, Detail: ae.Detail, Code: ae.Code,
	}})
	c.Abort()
}
