package dispatcher

import (
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/cpibroker/cpibroker/internal/cpiclient"
	"github.com/cpibroker/cpibroker/internal/cpitoken"
	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// maxAttemptMessage bounds last_attempt.message.
const maxAttemptMessage = 300

// describeAttempt is the record's last_attempt for an attempt that did not
// succeed (nil when it did): what a person reading the job needs to act.
// Messages are built from statuses and the client's own error texts, which
// never contain credentials.
func describeAttempt(out outcome, resp *cpiclient.Response, err error, timeout time.Duration, now time.Time) *cpibv1.Attempt {
	if out == succeeded {
		return nil
	}
	la := &cpibv1.Attempt{At: timestamppb.New(now)}
	switch {
	case out == providerAuth && err != nil:
		la.Code, la.Message = jobs.AttemptProviderAuth, "provider_auth: "+err.Error()
		if te := (*cpitoken.Error)(nil); errors.As(err, &te) {
			la.Message = "provider_auth: " + te.Error()
		}
	case out == providerAuth:
		la.Code, la.StatusCode = jobs.AttemptProviderAuth, int32(resp.StatusCode)
		la.Message = fmt.Sprintf("provider_auth: CPI answered %d %s after a new token was fetched: the provider's runtime credentials are not accepted for this iFlow",
			resp.StatusCode, http.StatusText(resp.StatusCode))
	case errors.Is(err, cpiclient.ErrTimeout):
		la.Code = jobs.AttemptTimeout
		la.Message = "timeout: no complete answer from CPI"
		if timeout > 0 {
			la.Message = fmt.Sprintf("timeout after %s", timeout)
		}
	case errors.Is(err, cpiclient.ErrTokenFetch):
		la.Code, la.Message = jobs.AttemptTokenUnavailable, err.Error()
	case err != nil:
		la.Code, la.Message = jobs.AttemptNetwork, err.Error()
	default:
		la.Code, la.StatusCode = fmt.Sprintf("cpi_%d", resp.StatusCode), int32(resp.StatusCode)
		la.Message = fmt.Sprintf("CPI answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		if resp.MessageID != "" {
			la.Message += " (MPL ID " + resp.MessageID + ")"
		}
	}
	la.Message = truncate(la.Message, maxAttemptMessage)
	return la
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
