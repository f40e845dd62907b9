package jobs

import (
	"time"

	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Resource is the job as partners see it (DESIGN 2.4). Absent optional
// fields are omitted, never null.
type Resource struct {
	ID          string          `json:"id"`
	Flow        string          `json:"flow"`
	Status      string          `json:"status"`
	Run         uint32          `json:"run"`
	Attempts    uint32          `json:"attempts"`
	CreatedAt   string          `json:"created_at"`
	UpdatedAt   string          `json:"updated_at"`
	CompletedAt string          `json:"completed_at,omitempty"`
	ExpiresAt   string          `json:"expires_at,omitempty"`
	Waiting     *Waiting        `json:"waiting,omitempty"`
	LastAttempt *LastAttempt    `json:"last_attempt,omitempty"`
	Result      *ResultResource `json:"result,omitempty"`
	Error       *ErrorResource  `json:"error,omitempty"`
}

// Waiting says why a queued job is not running yet. It is computed when
// the job is read, never stored per job.
type Waiting struct {
	Reason string `json:"reason"`
	Until  string `json:"until,omitempty"`
	// Job names the job an ordered job waits for (reasons sequence and
	// sequence_blocked).
	Job string `json:"job,omitempty"`
}

// LastAttempt is the most recent attempt that did not succeed, shown
// while the job waits for another attempt and after it failed. Code is
// short and machine-readable ("provider_auth", "cpi_503", "timeout",
// "network", "token_unavailable"); Message says the cause in plain words and
// never carries a secret.
type LastAttempt struct {
	At         string `json:"at"`
	StatusCode int32  `json:"status_code,omitempty"`
	Code       string `json:"code"`
	Message    string `json:"message,omitempty"`
}

// ResultResource describes CPI's answer; the body is at URL.
type ResultResource struct {
	StatusCode   int32  `json:"status_code"`
	ContentType  string `json:"content_type,omitempty"`
	Size         int64  `json:"size"`
	CPIMessageID string `json:"cpi_message_id,omitempty"`
	URL          string `json:"url"`
	// Body and BodyEncoding ("utf-8" or "base64") carry a small body
	// inline in events (DESIGN 7.1); the job resource never has them.
	Body         *string `json:"body,omitempty"`
	BodyEncoding string  `json:"body_encoding,omitempty"`
}

// ErrorResource says why a run failed.
type ErrorResource struct {
	Code       string `json:"code"`
	Message    string `json:"message,omitempty"`
	StatusCode int32  `json:"status_code,omitempty"`
}

// Waiting reasons.
const (
	WaitRetryBackoff = "retry_backoff"
	// WaitProviderAuth: CPI refused the provider's credentials (token
	// endpoint or iFlow 401/403 after a refetch); the job waits without
	// consuming attempts until the provider's credentials work again.
	WaitProviderAuth = "provider_auth"
)

// Attempt codes of last_attempt that are not "cpi_<status>".
const (
	AttemptProviderAuth     = "provider_auth"
	AttemptTimeout          = "timeout"
	AttemptNetwork          = "network"
	AttemptTokenUnavailable = "token_unavailable"
)

// NewResource renders a record. now decides whether a retry is still
// waiting its backoff.
func NewResource(rec *cpibv1.JobRecord, now time.Time) Resource {
	r := Resource{
		ID:          rec.GetId(),
		Flow:        rec.GetFlow(),
		Status:      StatusName(rec.GetStatus()),
		Run:         rec.GetRun(),
		Attempts:    rec.GetAttempts(),
		CreatedAt:   stamp(rec.GetCreatedAt()),
		UpdatedAt:   stamp(rec.GetUpdatedAt()),
		CompletedAt: stamp(rec.GetCompletedAt()),
		ExpiresAt:   stamp(rec.GetExpiresAt()),
	}
	if rec.GetStatus() == cpibv1.JobStatus_JOB_STATUS_QUEUED && rec.GetNextAttemptAt() != nil &&
		rec.GetNextAttemptAt().AsTime().After(now) {
		reason := WaitRetryBackoff
		if rec.GetLastAttempt().GetCode() == AttemptProviderAuth {
			reason = WaitProviderAuth
		}
		r.Waiting = &Waiting{Reason: reason, Until: stamp(rec.GetNextAttemptAt())}
	}
	if la := rec.GetLastAttempt(); la != nil && (rec.GetStatus() == cpibv1.JobStatus_JOB_STATUS_QUEUED ||
		rec.GetStatus() == cpibv1.JobStatus_JOB_STATUS_FAILED) {
		r.LastAttempt = &LastAttempt{At: stamp(la.GetAt()), StatusCode: la.GetStatusCode(), Code: la.GetCode(), Message: la.GetMessage()}
	}
	if res := rec.GetResult(); res != nil {
		r.Result = &ResultResource{
			StatusCode:   res.GetStatusCode(),
			ContentType:  res.GetContentType(),
			Size:         res.GetSize(),
			CPIMessageID: res.GetCpiMessageId(),
			URL:          "/v1/jobs/" + rec.GetId() + "/result",
		}
	}
	if e := rec.GetError(); e != nil {
		r.Error = &ErrorResource{Code: e.GetCode(), Message: e.GetMessage(), StatusCode: e.GetStatusCode()}
	}
	return r
}

func stamp(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().UTC().Format(time.RFC3339Nano)
}
