package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/dispatcher/state"
	"github.com/cpibroker/cpibroker/internal/cpiclient"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/internal/telemetry"
	"github.com/cpibroker/cpibroker/internal/workqueue"
	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

// dispatch runs one pulled job on its own goroutine under its admission
// (slot, permits, maybe a breaker probe), which is returned when the job
// is handled.
func (d *Dispatcher) dispatch(m jetstream.Msg, p *puller, adm *admission) {
	if !d.work.Start() {
		// Shutting down: hand the job back (after a short delay, so that
		// it does not come straight back into this puller's next pull).
		adm.done()
		_ = m.NakWithDelay(workqueue.HandBackDelay)
		return
	}
	go func() {
		defer d.work.Done()
		defer adm.done()
		d.handle(d.workCtx, m, p, adm)
	}()
}

// pulled is one job message being worked on. It becomes an attempt only
// when its attempt starts (Attempts counts it): duplicates, early copies,
// breaker-open hand-backs and releases never do.
type pulled struct {
	msg jetstream.Msg
	seq uint64
	job *cpibv1.Job
	// rec is the record as this attempt sees it: once the attempt has
	// begun, running with its attempt counted, written or not.
	rec  *cpibv1.JobRecord
	rev  uint64
	flow catalog.Flow

	// The attempt's start is written lazily (begin): together with its
	// outcome (one write), or by markRunning once the call has lasted
	// RunningAfter. mu orders the two writers.
	mu      sync.Mutex
	stored  *cpibv1.JobRecord // the record as stored at rev (read from the message at rev 0)
	start   jobs.Transition   // the attempt's start, while not written
	pending bool              // start is not written yet
	settled bool              // the outcome is being written: no more running write
	timer   *time.Timer       // fires markRunning
	span    trace.Span
	// last describes the attempt's call when it did not succeed (the
	// record's last_attempt once a transition writes it).
	last *cpibv1.Attempt
	// adm is the job's admission: its breaker probe, if any, is taken over
	// by the call (allow) or returned with the rest when the job is done.
	adm *admission
}

func (d *Dispatcher) handle(ctx context.Context, m jetstream.Msg, p *puller, adm *admission) {
	a := &pulled{msg: m, adm: adm}
	log := d.cfg.Logger
	meta, err := m.Metadata()
	if err != nil {
		log.Error("dispatcher: message without metadata", "err", err)
		return
	}
	job := &cpibv1.Job{}
	if err := proto.Unmarshal(m.Data(), job); err != nil || job.GetId() == "" {
		// Nothing can run it; keep it for an operator instead of looping.
		log.Error("dispatcher: undecodable job message; moved to DLQ", "consumer", p.name, "seq", meta.Sequence.Stream, "err", err)
		d.deadLetterRaw(ctx, p, m)
		_ = m.Ack()
		return
	}
	ctx = d.cfg.Propagator.Extract(ctx, natsx.HeaderCarrier(m.Headers()))
	var span trace.Span
	if telemetry.Enabled(d.cfg.TracerProvider) {
		ctx, span = d.tracer.Start(ctx, "dispatch "+job.GetFlow(),
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(
				attribute.String("job.id", job.GetId()), attribute.String("client.id", job.GetClient()),
				attribute.String("flow.id", job.GetFlow()), attribute.Int("run", int(job.GetRun())),
				attribute.String("messaging.system", "nats"), attribute.String("messaging.destination.name", m.Subject()),
				// How long the job waited in JetStream (quota, concurrency,
				// breaker, backlog or backoff) before this attempt.
				attribute.Int64("queue.wait_ms", time.Since(meta.Timestamp).Milliseconds()),
			))
		defer span.End()
		if t := adm.waited(); t != nil {
			// The pull waited for a budget (the job meanwhile in JetStream).
			span.AddEvent("quota_wait", trace.WithAttributes(
				attribute.String("reason", t.waited), attribute.Int64("wait_ms", t.waitedFor.Milliseconds())))
		}
	} else {
		// Tracing off: no span to name and describe. The job's incoming
		// trace context still travels on, as a non-recording span.
		span = trace.SpanFromContext(ctx)
	}
	a.seq, a.job, a.span = meta.Sequence.Stream, job, span
	stopProgress := d.keepAlive(m)
	defer stopProgress()
	defer a.close()
	if err := d.advance(ctx, a); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		if ctx.Err() != nil {
			// Shutdown grace over: hand the job back for another
			// dispatcher to take at once.
			span.AddEvent("released at shutdown")
			log.InfoContext(ctx, "dispatcher: job released at shutdown; another dispatcher takes it", jobAttrs(job)...)
			_ = m.Nak()
			return
		}
		log.WarnContext(ctx, "dispatcher: job not finished; JetStream will redeliver it", append(jobAttrs(job), "err", err)...)
		_ = m.NakWithDelay(time.Second)
	}
}

// release hands a job whose attempt had started back to JetStream as if it
// had never been pulled: the breaker refused the call at the last moment.
// The record's attempt is undone, so waiting never consumes an attempt.
func (d *Dispatcher) release(ctx context.Context, a *pulled) error {
	rec, rev, pending := a.settle()
	if !pending { // the start was written: undo it
		if _, err := d.store.Apply(ctx, rec, rev, jobs.Release(), nil); err != nil &&
			!errors.Is(err, jobs.ErrConflict) && !errors.Is(err, jobs.ErrInvalidTransition) {
			return err
		}
	}
	a.span.AddEvent("breaker_open", trace.WithAttributes(attribute.String("flow.id", a.flow.ID)))
	return a.msg.Nak()
}

// keepAlive tells JetStream the job is in progress every AckWait/3, so a
// long CPI call is not redelivered to another dispatcher. A timer, not a
// goroutine per job: most calls end before it first fires.
func (d *Dispatcher) keepAlive(m jetstream.Msg) func() {
	every := d.res.Layout.AckWait / 3
	var (
		mu      sync.Mutex
		stopped bool
		t       *time.Timer
	)
	var tick func()
	tick = func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		_ = m.InProgress()
		t.Reset(every)
	}
	mu.Lock()
	t = time.AfterFunc(every, tick)
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}

// begin starts the attempt of a.msg in memory: a.rec shows it running
// with its attempt counted. Nothing is written: the outcome's transition
// carries the start (outcome), or markRunning writes it once the call has
// lasted RunningAfter, so a person reading the job sees it running and a
// cancel is refused from then on.
func (d *Dispatcher) begin(ctx context.Context, a *pulled) error {
	start := jobs.StartAttempt(a.seq)
	view := proto.CloneOf(a.rec)
	if err := start.To(view, d.cfg.Now()); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stored, a.start, a.pending = a.rec, start, true
	a.rec = view
	wctx := context.WithoutCancel(ctx)
	a.timer = time.AfterFunc(d.cfg.RunningAfter, func() { d.markRunning(wctx, a) })
	return nil
}

// markRunning writes the start of an attempt whose call lasts: the record
// becomes running, owned by this message. If the write loses (the partner
// canceled meanwhile), the outcome's write loses too and is dropped.
func (d *Dispatcher) markRunning(ctx context.Context, a *pulled) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.settled || !a.pending {
		return
	}
	rec := proto.CloneOf(a.stored)
	rev, err := d.store.Apply(ctx, rec, a.rev, a.start, nil)
	if err != nil {
		d.cfg.Logger.Debug("dispatcher: running state not written", append(jobAttrs(a.job), "err", err)...)
		return
	}
	a.stored, a.rev, a.pending = rec, rev, false
}

// settle ends the attempt's lazy start: no running write happens after
// it. It returns the stored record, its revision, and whether the start
// is still unwritten.
func (a *pulled) settle() (*cpibv1.JobRecord, uint64, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.settled = true
	if a.timer != nil {
		a.timer.Stop()
	}
	if a.stored == nil { // never begun
		return a.rec, a.rev, false
	}
	return a.stored, a.rev, a.pending
}

// outcome returns what writes the transition t that ends the attempt
// (or the run): the stored record, its revision, and t, preceded by the
// attempt's start when that is not written yet (one write from queued).
func (a *pulled) outcome(t jobs.Transition) (*cpibv1.JobRecord, uint64, jobs.Transition) {
	rec, rev, pending := a.settle()
	if pending {
		t = a.start.Then(t)
	}
	return proto.CloneOf(rec), rev, t
}

// close stops the lazy start of an attempt that ended without an outcome
// (handed back, or JetStream failed).
func (a *pulled) close() { a.settle() }

// advance takes a job from its record's state to the next one. It returns an
// error only when JetStream itself failed, so the message is redelivered.
func (d *Dispatcher) advance(ctx context.Context, a *pulled) error {
	rec, rev, err := d.store.Load(ctx, a.job)
	if err != nil {
		return err
	}
	a.rec, a.rev = rec, rev
	if jobs.Early(a.rec, a.job, a.seq, a.msg.Subject()) {
		return a.msg.NakWithDelay(time.Second)
	}
	if !jobs.Owns(a.rec, a.job, a.seq) {
		if jobs.EndedBy(a.rec, a.job, a.seq) {
			if err := d.publishEvent(ctx, a); err != nil {
				return err
			}
		}
		a.span.AddEvent("duplicate or stale message dropped")
		return a.msg.Ack()
	}
	now := d.cfg.Now()
	flow, ok := d.cat.Flow(a.job.GetFlow())
	if jerr := jobs.ExpiryError(a.rec, !ok || flow.Status == catalog.FlowUnavailable, now); jerr != nil {
		return d.finish(ctx, a, jobs.Expire(a.seq, jerr))
	}
	if !ok {
		return d.finish(ctx, a, jobs.Fail(a.seq, nil,
			&cpibv1.JobError{Code: jobs.CodeFlowUnavailable, Message: "the flow no longer exists"}))
	}
	a.flow = flow
	if flow.Status != catalog.FlowEnabled {
		// The puller stops pulling this pair; this job raced the change.
		return a.msg.NakWithDelay(5 * time.Second)
	}
	if !a.adm.isProbe() && d.breakers.state(flow.ID) == state.StateOpen {
		// The breaker opened after this job was pulled: hand it back
		// without touching its attempts; the puller waits for the breaker.
		a.span.AddEvent("breaker_open", trace.WithAttributes(attribute.String("flow.id", flow.ID)))
		return a.msg.Nak()
	}
	// Start the attempt. It is written with its outcome, one
	// compare-and-set from the record read above: only one message can end
	// the attempt, and a cancel or another writer in between wins.
	if err := d.begin(ctx, a); err != nil {
		return err
	}
	a.span.SetAttributes(attribute.Int("attempt", int(a.rec.GetAttempts())))
	return d.invoke(ctx, a)
}

// invoke is the attempt's chain: the provider's client, the call, its
// classification, then the transition the outcome calls for.
func (d *Dispatcher) invoke(ctx context.Context, a *pulled) error {
	client, t := d.invoker(a)
	if client == nil {
		return d.finish(ctx, a, t)
	}
	c, err := d.call(ctx, a, client)
	if c == nil {
		return err
	}
	switch c.out {
	case succeeded:
		return d.succeed(ctx, a, c)
	case businessError:
		return d.refuse(ctx, a, c)
	case providerAuth:
		return d.waitProviderAuth(ctx, a, c.resp)
	}
	return d.retryOrGiveUp(ctx, a, c)
}

// invoker returns the client of the flow's provider, or nil and the
// transition that fails the job when there is none.
func (d *Dispatcher) invoker(a *pulled) (*cpiclient.Client, jobs.Transition) {
	prov, ok := d.cat.Provider(a.flow.Provider)
	if !ok {
		return nil, jobs.Fail(a.seq, nil,
			&cpibv1.JobError{Code: jobs.CodeFlowUnavailable, Message: "the flow's provider no longer exists"})
	}
	client, err := d.invokers.get(prov)
	if err != nil {
		return nil, jobs.Fail(a.seq, nil,
			&cpibv1.JobError{Code: jobs.CodeCPIError, Message: "provider misconfigured: " + err.Error()})
	}
	return client, jobs.Transition{}
}

// called is one call's answer and its classification.
type called struct {
	resp    *cpiclient.Response
	err     error
	out     outcome
	started time.Time
}

// call makes the attempt's CPI call through the flow's breaker and
// classifies the answer, recording it (breaker, metric, last_attempt,
// provider health, attempts log, span). nil with the error to return when
// there is no answer to act on: the breaker refused the call at the last
// moment (the job is handed back), the process is stopping, or JetStream
// failed (payload or spilled answer).
func (d *Dispatcher) call(ctx context.Context, a *pulled, client *cpiclient.Client) (*called, error) {
	done, err := a.adm.allow(a.flow.Policy.Breaker)
	if err != nil {
		return nil, d.release(ctx, a)
	}
	stream, closeBody, err := d.bodyStream(ctx, a)
	if err != nil {
		done(true) // JetStream's problem, not CPI's
		return nil, err
	}
	c := &called{started: time.Now()}
	c.resp, c.err = client.Invoke(ctx, cpiclient.Request{
		URL:            flowURL(a.flow, a.job.GetFlowPath()),
		Query:          a.job.GetQuery(),
		ContentType:    a.job.GetContentType(),
		Body:           a.job.GetPayload(),
		Header:         headersOf(a.job.GetHeaders()),
		ApplicationID:  a.job.GetId(),
		IdempotencyKey: a.job.GetId() + "." + strconv.FormatUint(uint64(a.job.GetRun()), 10),
		Timeout:        a.flow.Policy.Timeout.D(),
		Stream:         stream,
	})
	closeBody()
	if ctx.Err() != nil {
		return nil, ctx.Err() // shutting down: released, not the iFlow's failure
	}
	d.cfg.Observer.CPICall(ctx, a.flow.ID, statusOf(c.resp), time.Since(c.started))
	if errors.Is(c.err, cpiclient.ErrSpill) {
		done(true)
		return nil, c.err // JetStream could not keep the answer (not CPI's fault): redeliver
	}
	var failure bool
	c.out, failure = classify(c.resp, c.err, a.flow.Policy)
	done(!failure)
	a.last = describeAttempt(c.out, c.resp, c.err, a.flow.Policy.Timeout.D(), d.cfg.Now())
	d.noteCredentials(ctx, a.flow.Provider, c.out, c.resp, c.err, a.last)
	d.logFailedCall(ctx, a, c.out, c.resp, c.started)
	if c.resp != nil {
		a.span.SetAttributes(attribute.Int("http.response.status_code", c.resp.StatusCode), attribute.String("cpi.message_id", c.resp.MessageID))
	}
	return c, nil
}

// succeed ends the run with CPI's answer.
func (d *Dispatcher) succeed(ctx context.Context, a *pulled, c *called) error {
	res, err := d.result(ctx, a, c.resp)
	if err != nil {
		return err
	}
	return d.finish(ctx, a, jobs.Succeed(a.seq, res))
}

// refuse fails the run with CPI's answer: a business error, not retried.
// A 404 first has the provider rediscovered (DESIGN 5: the iFlow may be
// undeployed; discovery marks it unavailable and later jobs wait).
func (d *Dispatcher) refuse(ctx context.Context, a *pulled, c *called) error {
	if c.resp.StatusCode == 404 && d.cfg.Rediscoverer != nil {
		if err := d.cfg.Rediscoverer.Rediscover(ctx, a.flow.Provider); err != nil {
			d.cfg.Logger.Warn("rediscovery after a 404 failed", "provider", a.flow.Provider, "err", err)
		}
	}
	res, err := d.result(ctx, a, c.resp)
	if err != nil {
		return err
	}
	return d.finish(ctx, a, jobs.Fail(a.seq, res, &cpibv1.JobError{
		Code: jobs.CodeCPIError, StatusCode: int32(c.resp.StatusCode),
		Message: fmt.Sprintf("CPI answered %d", c.resp.StatusCode),
	}).Noting(a.last))
}

// retryOrGiveUp handles a retryable failure: the next attempt after its
// backoff, or, after max_attempts, the DLQ and failed/attempts_exhausted
// with the last answer kept.
func (d *Dispatcher) retryOrGiveUp(ctx context.Context, a *pulled, c *called) error {
	jerr := &cpibv1.JobError{Code: jobs.CodeAttemptsExhausted}
	if c.err != nil {
		jerr.Message = c.err.Error()
		a.span.RecordError(c.err)
	} else {
		jerr.StatusCode = int32(c.resp.StatusCode)
		jerr.Message = fmt.Sprintf("CPI answered %d", c.resp.StatusCode)
	}
	if int(a.rec.GetAttempts()) >= a.flow.Policy.MaxAttempts {
		var res *cpibv1.Result
		if c.resp != nil {
			var err error
			if res, err = d.result(ctx, a, c.resp); err != nil {
				return err
			}
		}
		jerr.Message = fmt.Sprintf("%d attempts failed; last: %s", a.rec.GetAttempts(), jerr.Message)
		if err := d.deadLetter(ctx, a, jerr); err != nil {
			return err
		}
		return d.finish(ctx, a, jobs.Fail(a.seq, res, jerr).Noting(a.last))
	}
	if c.resp != nil && c.resp.BodyRef != "" {
		d.store.DropResult(ctx, c.resp.BodyRef) // this answer is not kept
	}
	a.span.AddEvent("retry scheduled", trace.WithAttributes(attribute.String("reason", jerr.Message)))
	return d.retry(ctx, a, backoff(a.flow.Policy, a.rec.GetAttempts(), c.resp, d.cfg.Now(), d.cfg.Rand))
}

// result turns CPI's response into the record's result, moving a large
// body to the object store.
func (d *Dispatcher) result(ctx context.Context, a *pulled, resp *cpiclient.Response) (*cpibv1.Result, error) {
	res := &cpibv1.Result{
		StatusCode: int32(resp.StatusCode), ContentType: resp.ContentType,
		Size: resp.Size, CpiMessageId: resp.MessageID,
		Headers: headerList(resp.Header),
	}
	if resp.BodyRef != "" {
		res.BodyObject = resp.BodyRef // streamed to the object store by the call
		return res, nil
	}
	obj, err := d.store.StoreResultBody(ctx, a.job.GetId(), a.job.GetRun(), resp.Body)
	if err != nil {
		return nil, err
	}
	if obj != "" {
		res.BodyObject = obj
	} else {
		res.Body = resp.Body
	}
	return res, nil
}

// finish applies the transition that ends the run (compare-and-set:
// exactly one terminal state per run; jobs publishes the event and counts
// the completion) and acknowledges the message.
func (d *Dispatcher) finish(ctx context.Context, a *pulled, t jobs.Transition) error {
	h := nats.Header{}
	d.cfg.Propagator.Inject(ctx, natsx.HeaderCarrier(h))
	outcome := t
	rec, rev, t := a.outcome(t)
	_, err := d.store.Apply(ctx, rec, rev, t, h)
	if errors.Is(err, jobs.ErrConflict) {
		// The attempt's own start may be what moved the record: a running
		// write whose acknowledgement was lost (a node loss, a timeout)
		// stands although it reported a failure. Then the record is
		// running, owned by this message, with this attempt counted, and
		// the outcome applies to it; dropped, the job would stay running
		// with its message acknowledged.
		cur, curRev, gerr := d.store.Get(ctx, a.job.GetId())
		if gerr != nil && !errors.Is(gerr, jobs.ErrNotFound) {
			return gerr
		}
		if gerr == nil && ownStart(cur, a) {
			rec, rev, t = cur, curRev, outcome
			_, err = d.store.Apply(ctx, rec, rev, t, h)
		}
	}
	if errors.Is(err, jobs.ErrConflict) || errors.Is(err, jobs.ErrInvalidTransition) {
		// Another delivery ended this run first (ours is a duplicate), or
		// the partner canceled it during a call too short to be written
		// as running: the cancel stands and this outcome is dropped.
		a.span.AddEvent("run already ended elsewhere")
		return a.msg.Ack()
	}
	if err == nil || errors.Is(err, jobs.ErrEventPending) {
		a.rec = rec // as written
	}
	if err != nil {
		return err // the event is pending: the redelivery publishes it (EndedBy)
	}
	a.span.AddEvent("event published")
	st := a.rec.GetStatus()
	if st == cpibv1.JobStatus_JOB_STATUS_FAILED {
		a.span.SetStatus(codes.Error, a.rec.GetError().GetCode())
	}
	d.logFinished(ctx, a, st, a.rec.GetError())
	a.span.SetAttributes(attribute.String("job.status", jobs.StatusName(st)))
	return a.msg.Ack()
}

// ownStart reports whether cur is the start of a's attempt as written:
// running, owned by a's message, with a's attempt counted.
func ownStart(cur *cpibv1.JobRecord, a *pulled) bool {
	return cur.GetStatus() == cpibv1.JobStatus_JOB_STATUS_RUNNING && jobs.Owns(cur, a.job, a.seq) &&
		cur.GetAttempts() == a.rec.GetAttempts()
}

// flowURL is the iFlow endpoint, with the Flow-Path sub-path for /*
// addresses (never the literal "/*").
func flowURL(f catalog.Flow, flowPath string) string {
	return strings.TrimSuffix(f.URL, "/*") + flowPath
}

func headersOf(hs []*cpibv1.Header) map[string][]string {
	if len(hs) == 0 {
		return nil
	}
	out := make(map[string][]string, len(hs))
	for _, h := range hs {
		out[h.GetName()] = h.GetValues()
	}
	return out
}

func headerList(h map[string][]string) []*cpibv1.Header {
	out := make([]*cpibv1.Header, 0, len(h))
	for k, v := range h {
		out = append(out, &cpibv1.Header{Name: k, Values: v})
	}
	return out
}
