package cpisim

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"os"
	"time"
)

// statusClientClosed is recorded (never sent) when the caller went away
// while the flow was still running, as nginx logs it.
const statusClientClosed = 499

// simPathHeader echoes the CamelHttpPath of a wildcard address on success,
// for tests; it is not a CPI header.
const simPathHeader = "X-Sim-Path"

// serveRuntime implements /http/<address> (cpi.md 1.1-1.4). The order of the
// checks is: authentication (401, or 403 for an api-plan credential), routing
// (404), outage (503), CSRF fetch or validation (403), body size (413),
// latency, injected error (ErrorStatus), success (echo).
//
// UNCONFIRMED: authentication before routing, so that an unknown address
// without credentials is 401, not 404.
func (s *Sim) serveRuntime(w http.ResponseWriter, r *http.Request) {
	start := s.cfg.Now()
	f, sub := s.route(r.URL.Path)
	aud, scheme := s.authenticateRuntime(r)
	status, mplID, size := s.runFlow(w, r, f, aud, scheme)
	s.log.Debug("cpisim call", "method", r.Method, "path", r.URL.Path, "status", status, "mpl_id", mplID)
	if f == nil || status == 0 {
		return
	}
	h := r.Header.Clone()
	h.Del("Authorization")
	h.Del("Cookie")
	s.history(f.ID).add(Call{
		Time:           start,
		IFlowID:        f.ID,
		Method:         r.Method,
		Path:           r.URL.Path,
		CamelHTTPPath:  sub,
		Query:          r.URL.RawQuery,
		ContentType:    r.Header.Get("Content-Type"),
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
		ApplicationID:  r.Header.Get("SAP_ApplicationID"),
		Traceparent:    r.Header.Get("traceparent"),
		AuthScheme:     scheme,
		Header:         h,
		BodySize:       size,
		Status:         status,
		MessageID:      mplID,
	})
}

// runFlow answers one runtime request and returns what to record: the
// status (0 for a successful CSRF fetch, which is not a call), the MPL ID
// and the body bytes read.
func (s *Sim) runFlow(w http.ResponseWriter, r *http.Request, f *flow, aud audience, scheme string) (status int, mplID string, size int64) {
	switch aud {
	case audNone:
		writeUnauthorized(w, scheme)
		return http.StatusUnauthorized, "", 0
	case audAPI:
		// UNCONFIRMED body; the status is the documented role mismatch.
		writeText(w, http.StatusForbidden, "", "Forbidden\n")
		return http.StatusForbidden, "", 0
	}
	if f == nil {
		// UNCONFIRMED body (cpi.md 1.4 documents only the status).
		writeText(w, http.StatusNotFound, "", fmt.Sprintf("No integration flow is deployed at %s\n", r.URL.Path))
		return http.StatusNotFound, "", 0
	}
	if f.Faults.Outage {
		writeText(w, http.StatusServiceUnavailable, "", unavailableBody(f.ID, ""))
		return http.StatusServiceUnavailable, "", 0
	}
	if f.CSRF {
		if isCSRFFetch(r) {
			s.serveCSRFFetch(w, r, f)
			return 0, "", 0
		}
		if needsCSRF(r.Method) && !s.csrfValid(r, f) {
			// UNCONFIRMED for CPI: "Required" and the body come from
			// SAP Gateway (cpi.md 1.3).
			w.Header().Set(csrfHeader, "Required")
			writeText(w, http.StatusForbidden, "", "CSRF token validation failed\n")
			return http.StatusForbidden, "", 0
		}
	}
	hist := s.history(f.ID)
	hist.enter()
	defer hist.leave()
	spanStart := s.cfg.Now()
	defer func() {
		hist.addSpan(Span{Job: r.Header.Get("SAP_ApplicationID"), Start: spanStart, End: s.cfg.Now(), Status: status})
	}()
	mplID = newMessageID()
	limit := f.MaxBodySize
	if limit == 0 {
		limit = s.cfg.MaxBodySize
	}
	if r.ContentLength > limit {
		writeText(w, http.StatusRequestEntityTooLarge, mplID, tooLargeBody(limit, mplID))
		return http.StatusRequestEntityTooLarge, mplID, 0
	}
	gr := &gapReader{r: r.Body, rc: http.NewResponseController(w), gap: s.cfg.BodyReadGap}
	body, err := io.ReadAll(io.LimitReader(gr, limit+1))
	gr.done()
	size = int64(len(body))
	if int64(len(body)) > limit {
		writeText(w, http.StatusRequestEntityTooLarge, mplID, tooLargeBody(limit, mplID))
		return http.StatusRequestEntityTooLarge, mplID, size
	}
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, os.ErrDeadlineExceeded) {
			status = http.StatusRequestTimeout
		}
		writeText(w, status, mplID, internalErrorBody("reading the request body: "+err.Error(), mplID))
		return status, mplID, size
	}
	fail := f.Faults.ErrorRate > 0 && f.rng.float64() < f.Faults.ErrorRate
	if f.Faults.Latency > 0 {
		t := time.NewTimer(f.Faults.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return statusClientClosed, mplID, size
		case <-s.closed:
			t.Stop()
			writeText(w, http.StatusServiceUnavailable, mplID, unavailableBody(f.ID, mplID))
			return http.StatusServiceUnavailable, mplID, size
		}
	}
	if fail {
		s.writeInjectedError(w, f, mplID)
		return f.Faults.ErrorStatus, mplID, size
	}
	s.writeEcho(w, r, f, mplID, body)
	return f.ResponseStatus, mplID, size
}

// writeInjectedError answers f's ErrorStatus: CPI's exact 500 text, a 503
// text, or a generic text for other statuses; all name the MPL ID.
func (s *Sim) writeInjectedError(w http.ResponseWriter, f *flow, mplID string) {
	text := f.Faults.ErrorMessage
	if text == "" {
		text = fmt.Sprintf("java.lang.RuntimeException: error injected by cpisim into integration flow %s", f.ID)
	}
	switch st := f.Faults.ErrorStatus; st {
	case http.StatusInternalServerError:
		writeText(w, st, mplID, internalErrorBody(text, mplID))
	case http.StatusServiceUnavailable:
		writeText(w, st, mplID, unavailableBody(f.ID, mplID))
	default:
		writeText(w, st, mplID, injectedErrorBody(st, text, mplID))
	}
}

// writeEcho answers success: the request body and Content-Type, the flow's
// extra headers, SAP_MessageProcessingLogID and, for wildcard addresses,
// X-Sim-Path with the CamelHttpPath.
func (s *Sim) writeEcho(w http.ResponseWriter, r *http.Request, f *flow, mplID string, body []byte) {
	h := w.Header()
	typed := false
	if ct := r.Header.Get("Content-Type"); ct != "" && f.ResponseStatus != http.StatusNoContent {
		h.Set("Content-Type", ct)
		typed = true
	}
	for k, v := range f.ResponseHeaders {
		if ck := textproto.CanonicalMIMEHeaderKey(k); ck == "Content-Type" {
			k, typed = ck, true
		}
		h.Del(k)
		h[k] = []string{v}
	}
	if !typed {
		h["Content-Type"] = nil // like the request: no type, and no sniffing
	}
	if f.addr.wildcard {
		sub, _ := f.addr.match(r.URL.Path[len(f.base):])
		h.Set(simPathHeader, sub)
	}
	h[mplHeader] = []string{mplID}
	w.WriteHeader(f.ResponseStatus)
	if f.ResponseStatus != http.StatusNoContent {
		_, _ = w.Write(body)
	}
}

// gapReader reads a request body, allowing at most gap between the start
// of one Read and the end of the next (CPI cancels a request whose body
// stalls for longer, cpi.md 1.4). It moves the connection's read deadline;
// where the connection has none to move (HTTP/2, tests), it reads plainly.
type gapReader struct {
	r   io.Reader
	rc  *http.ResponseController
	gap time.Duration
}

func (g *gapReader) Read(p []byte) (int, error) {
	if g.rc != nil {
		if err := g.rc.SetReadDeadline(time.Now().Add(g.gap)); err != nil {
			g.rc = nil
		}
	}
	return g.r.Read(p)
}

// done lifts the deadline once the body is read: the server's background
// read, which watches for the client going away while the flow runs, must
// not time out during a long latency.
func (g *gapReader) done() {
	if g.rc != nil {
		_ = g.rc.SetReadDeadline(time.Time{})
	}
}
