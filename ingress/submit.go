package ingress

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/telemetry"
	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// submit is POST /v1/flows/{flow}/jobs: store the job, answer 202 once
// JetStream acknowledged it.
func (s *Server) submit(c *gin.Context) {
	if s.draining.Load() {
		writeProblem(c, &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "shutting down", RetryAfter: 1})
		return
	}
	cl := callerOf(c)
	flow, perr := s.grantedFlow(cl, c.Param("flow"))
	if perr != nil {
		writeProblem(c, perr)
		return
	}
	switch flow.Status {
	case catalog.FlowDisabled:
		writeProblem(c, problem(http.StatusConflict, "flow_disabled", "the flow is disabled"))
		return
	case catalog.FlowUnavailable:
		writeProblem(c, problem(http.StatusConflict, "flow_unavailable", "the flow's iFlow is not deployed"))
		return
	}
	room := cl.client.MaxBacklog - s.policy.queued(cl.client.ID)
	if cl.client.MaxBacklog > 0 && room <= 0 {
		s.rateLimitHeaders(c, cl.client, 0, backlogRetry)
		writeProblem(c, &apiError{Status: http.StatusTooManyRequests, Code: "backlog_full",
			Detail: "the client's backlog of queued jobs is full (max_backlog " + strconv.Itoa(cl.client.MaxBacklog) + ")", RetryAfter: backlogRetry})
		return
	}
	sub, perr := s.submission(c, cl, flow)
	if perr != nil {
		writeProblem(c, perr)
		return
	}
	ctx := c.Request.Context()
	var span, pub trace.Span
	if telemetry.Enabled(s.cfg.TracerProvider) {
		// The producer span; skipped, with its names and attributes, when
		// tracing is off (an incoming trace context still travels).
		span = trace.SpanFromContext(ctx)
		span.SetAttributes(attribute.String("flow.id", flow.ID))
		ctx, pub = s.tracer().Start(ctx, "publish "+jobs.QueueDestination(cl.client.ID, flow.ID),
			trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(attribute.String("messaging.system", "nats"), attribute.String("client.id", cl.client.ID), attribute.String("flow.id", flow.ID)))
	}
	sub.Trace = jobs.TraceHeader(ctx, s.cfg.Propagator)
	acc, err := s.deps.Jobs.Submit(ctx, sub)
	if pub != nil {
		if acc.Record != nil {
			pub.SetAttributes(attribute.String("job.id", acc.Record.GetId()))
			span.SetAttributes(attribute.String("job.id", acc.Record.GetId()))
		}
		pub.End()
	}
	if errors.Is(err, jobs.ErrBodyRead) {
		writeProblem(c, s.bodyProblem(err))
		return
	}
	if err != nil {
		writeProblem(c, err)
		return
	}
	rec := acc.Record
	if !acc.Replayed {
		s.policy.accepted(cl.client.ID)
	}
	if cl.client.Quota != nil {
		s.rateLimitHeaders(c, cl.client, room-1, 0)
	}
	c.Header("Location", "/v1/jobs/"+rec.GetId())
	if acc.Replayed {
		c.Header("Idempotent-Replayed", "true")
	}
	if wait, ok := preferWait(c.Request.Header.Values("Prefer"), s.cfg.MaxWait); ok && s.answerWhenDone(c, rec, wait) {
		return
	}
	c.Header("Retry-After", "1")
	status := http.StatusAccepted
	if acc.Replayed && jobs.Terminal(rec.GetStatus()) {
		status = http.StatusOK
	}
	// A job that became its key's head at once waits for no job of its
	// key: no need to read its sequence.
	writeJSON(c.Writer, status, s.render(rec, !acc.Head))
}

// submission validates the request into a jobs.Submission.
func (s *Server) submission(c *gin.Context, cl caller, flow catalog.Flow) (jobs.Submission, *apiError) {
	r := c.Request
	if r.ContentLength > s.cfg.MaxPayload {
		return jobs.Submission{}, problem(http.StatusRequestEntityTooLarge, "payload_too_large",
			"the payload exceeds "+strconv.FormatInt(s.cfg.MaxPayload, 10)+" bytes")
	}
	sub := jobs.Submission{
		Client: cl.client.ID, Flow: flow.ID,
		ContentType: r.Header.Get("Content-Type"), Query: r.URL.RawQuery,
	}
	if k := r.Header.Get("Idempotency-Key"); k != "" || len(r.Header.Values("Idempotency-Key")) > 0 {
		if !validIdempotencyKey(k) {
			return sub, problem(http.StatusBadRequest, "invalid_request", "Idempotency-Key must be 1-255 visible ASCII characters")
		}
		sub.IdempotencyKey = k
	}
	key, perr := orderingKey(r, flow.Policy)
	if perr != nil {
		return sub, perr
	}
	sub.OrderingKey = key
	if v := r.Header.Get("Job-TTL"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || time.Duration(n)*time.Second > s.cfg.MaxJobTTL {
			return sub, problem(http.StatusBadRequest, "invalid_request",
				"Job-TTL must be whole seconds between 1 and "+strconv.FormatInt(int64(s.cfg.MaxJobTTL/time.Second), 10))
		}
		sub.TTL = time.Duration(n) * time.Second
	}
	if p := r.Header.Get("Flow-Path"); p != "" {
		if !flow.Wildcard() {
			return sub, problem(http.StatusBadRequest, "invalid_request", "this flow takes no Flow-Path")
		}
		if !validFlowPath(p) {
			return sub, problem(http.StatusBadRequest, "invalid_request", "Flow-Path must be an absolute path of letters, digits and -._~/ without '..'")
		}
		sub.FlowPath = p
	}
	if u := r.Header.Get("Callback-URL"); u != "" {
		if err := catalog.CheckCallbackURL(u); err != nil {
			return sub, problem(http.StatusBadRequest, "callback_not_allowed", err.Error())
		}
		if !catalog.CallbackAllowed(u, cl.client.CallbackPrefixes) {
			return sub, problem(http.StatusBadRequest, "callback_not_allowed", "Callback-URL must have the scheme, host and port of one of the client's callback prefixes and a path at or below its path")
		}
		if err := s.deps.Guard.CheckURL(c, u); err != nil {
			return sub, problem(http.StatusBadRequest, "callback_not_allowed", "Callback-URL: "+err.Error())
		}
		if perr := s.admitCallbackOrigin(c, cl.client, u); perr != nil {
			return sub, perr
		}
		sub.CallbackURL = u
	}
	for _, name := range flow.Policy.ForwardHeaders {
		if vs := r.Header.Values(name); len(vs) > 0 {
			sub.Headers = append(sub.Headers, &cpibv1.Header{Name: http.CanonicalHeaderKey(name), Values: vs})
		}
	}
	// The body last: a long one is streamed to the object store by Submit,
	// so it is read only once everything else is known to be good.
	body := http.MaxBytesReader(c.Writer, r.Body, s.cfg.MaxPayload)
	if r.ContentLength < 0 || r.ContentLength > int64(s.deps.Jobs.Config().InlineMax) {
		sub.Body = body
		return sub, nil
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return sub, s.bodyProblem(err)
	}
	sub.Payload = b
	return sub, nil
}

// bodyProblem is the answer to a request body that could not be read.
func (s *Server) bodyProblem(err error) *apiError {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return problem(http.StatusRequestEntityTooLarge, "payload_too_large",
			"the payload exceeds "+strconv.FormatInt(s.cfg.MaxPayload, 10)+" bytes")
	}
	return problem(http.StatusBadRequest, "invalid_request", "could not read the request body")
}

func validIdempotencyKey(k string) bool {
	if len(k) < 1 || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

func validFlowPath(p string) bool {
	if len(p) < 2 || len(p) > 1024 || p[0] != '/' || strings.Contains(p, "..") || strings.Contains(p, "//") {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~/", c) >= 0) {
			return false
		}
	}
	return true
}
