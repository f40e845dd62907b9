package cpisim

import (
	"net/http"
	"sync"
	"time"
)

// Call is one recorded request to an iFlow. Every authenticated or
// unauthenticated request that was routed to a deployed iFlow is recorded,
// whatever its outcome (401, 403, 413, 500, 503, 2xx...), except successful
// CSRF token fetches, which do not run the flow (see [Sim.CSRFFetches]).
type Call struct {
	// Time is when the request arrived, by Config.Now.
	Time time.Time `json:"time"`
	// IFlowID is the artifact ID of the iFlow.
	IFlowID string `json:"iflow_id"`
	// Method is the HTTP method.
	Method string `json:"method"`
	// Path is the request path as sent, e.g. "/http/Orders/42".
	Path string `json:"path"`
	// CamelHTTPPath is the suffix matched by a "/*" address (CPI's
	// CamelHttpPath header); empty for exact addresses.
	CamelHTTPPath string `json:"camel_http_path,omitempty"`
	// Query is the raw query string.
	Query string `json:"query,omitempty"`
	// ContentType is the request's Content-Type.
	ContentType string `json:"content_type,omitempty"`
	// IdempotencyKey is the Idempotency-Key request header.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// ApplicationID is the SAP_ApplicationID request header.
	ApplicationID string `json:"application_id,omitempty"`
	// Traceparent is the W3C traceparent request header.
	Traceparent string `json:"traceparent,omitempty"`
	// AuthScheme is the scheme of the Authorization header ("Bearer",
	// "Basic") or empty. Credentials are never recorded.
	AuthScheme string `json:"auth_scheme,omitempty"`
	// Header holds the request headers without Authorization and Cookie.
	Header http.Header `json:"header,omitempty"`
	// BodySize is the number of body bytes read (0 when refused before
	// reading).
	BodySize int64 `json:"body_size"`
	// Status is the status answered.
	Status int `json:"status"`
	// MessageID is the SAP_MessageProcessingLogID answered, if any.
	MessageID string `json:"message_id,omitempty"`
}

// callLog keeps the recent calls of one iFlow in a ring and counts all.
type callLog struct {
	mu      sync.Mutex
	ring    []Call
	next    int // index of the next write once the ring is full
	total   int
	fetches int
	max     int

	spans    []Span
	spanNext int
	spanMax  int

	inFlight    int // calls running the flow now
	maxInFlight int // high-water mark of inFlight
}

func newCallLog(max, spans int) *callLog { return &callLog{max: max, spanMax: spans} }

// Span is one call that ran an iFlow, from the moment it passed
// authentication and CSRF checks until it was answered: tests and the
// benchmark check per-key order and one-at-a-time with them.
type Span struct {
	// Job is the SAP_ApplicationID header (the broker's job ID).
	Job string `json:"job"`
	// Start and End bound the call, by Config.Now.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Status is the status answered.
	Status int `json:"status"`
}

func (l *callLog) addSpan(sp Span) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.spanMax == 0 {
		return
	}
	if len(l.spans) < l.spanMax {
		l.spans = append(l.spans, sp)
		return
	}
	l.spans[l.spanNext] = sp
	l.spanNext = (l.spanNext + 1) % l.spanMax
}

// spanList returns the recorded spans, in the order the calls ended.
func (l *callLog) spanList() []Span {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Span, 0, len(l.spans))
	out = append(out, l.spans[l.spanNext:]...)
	return append(out, l.spans[:l.spanNext]...)
}

func (l *callLog) add(c Call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total++
	if l.max == 0 {
		return
	}
	if len(l.ring) < l.max {
		l.ring = append(l.ring, c)
		return
	}
	l.ring[l.next] = c
	l.next = (l.next + 1) % l.max
}

// enter marks a call that started running the flow; leave ends it.
func (l *callLog) enter() {
	l.mu.Lock()
	l.inFlight++
	l.maxInFlight = max(l.maxInFlight, l.inFlight)
	l.mu.Unlock()
}

func (l *callLog) leave() {
	l.mu.Lock()
	l.inFlight--
	l.mu.Unlock()
}

func (l *callLog) concurrency() (now, peak int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inFlight, l.maxInFlight
}

func (l *callLog) addFetch() {
	l.mu.Lock()
	l.fetches++
	l.mu.Unlock()
}

// calls returns the recorded calls, oldest first.
func (l *callLog) calls() []Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Call, 0, len(l.ring))
	out = append(out, l.ring[l.next:]...)
	out = append(out, l.ring[:l.next]...)
	for i := range out {
		out[i].Header = out[i].Header.Clone()
	}
	return out
}

func (l *callLog) counts() (total, fetches int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.fetches
}
