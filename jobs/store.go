package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// Config tunes a Store.
type Config struct {
	// InlineMax is the largest payload or result kept inside the job message
	// or record; larger ones go to the cpib-payloads object store.
	// Default 256 KiB.
	InlineMax int
	// DefaultTTL is how long an undispatched job may wait (Job-TTL default).
	// Default 24h.
	DefaultTTL time.Duration
	// InFlightWindow is how long an idempotency entry without a job record
	// counts as "in flight" (409) before a retry takes the request over and
	// republishes it. Default 10s.
	InFlightWindow time.Duration
	// StoreTimeout bounds how long Submit waits for JetStream to
	// acknowledge a job. Without quorum (a cluster that lost a majority) no
	// acknowledgement comes; the partner gets 503 unavailable after this
	// long instead of a hanging request. Default 10s.
	StoreTimeout time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Observer receives the completed runs. Default none.
	Observer Observer
	// QueueCacheTTL is how long a (client, flow) queue consumer is assumed
	// to exist before Submit ensures it again. Default 1m.
	QueueCacheTTL time.Duration
	// Fault, when set, is asked before every job message publish whether
	// to inject a failure (Fault). It is the fault-injection point of
	// tests; nil in production.
	Fault func(subject string) Fault
	// BlockOnFailure reports whether a failed job with an Ordering-Key
	// blocks its key's sequence (the flow policy on_failure: block) or
	// releases the next job (continue). Default: block.
	BlockOnFailure func(flow string) bool
	// Logger receives what the store repairs or leaves to a repair.
	// Default: discarded.
	Logger *slog.Logger
	// BeforeWrite, when set, is called before every record write of a
	// transition (Store.Apply) with the job ID and the transition's name;
	// an error aborts the write, as if the process died just before it,
	// and is returned. The injection point of crash-window tests; nil in
	// production.
	BeforeWrite func(id, transition string) error
	// AfterWrite, when set, is called after every record write of a
	// transition that JetStream stored; an error is returned as if the
	// write's acknowledgement had been lost (the write stands). The
	// injection point of lost-acknowledgement tests; nil in production.
	AfterWrite func(id, transition string) error
}

func (c *Config) setDefaults() {
	if c.InlineMax == 0 {
		c.InlineMax = 256 << 10
	}
	if c.DefaultTTL == 0 {
		c.DefaultTTL = 24 * time.Hour
	}
	if c.InFlightWindow == 0 {
		c.InFlightWindow = 10 * time.Second
	}
	if c.StoreTimeout == 0 {
		c.StoreTimeout = 10 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Observer == nil {
		c.Observer = noObserver{}
	}
	if c.QueueCacheTTL == 0 {
		c.QueueCacheTTL = time.Minute
	}
	if c.BlockOnFailure == nil {
		c.BlockOnFailure = func(string) bool { return true }
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports impossible settings.
func (c *Config) Validate() error {
	if c.InlineMax < 1024 || c.InlineMax > 512<<10 {
		return fmt.Errorf("jobs: inline_max must be 1 KiB..512 KiB, got %d", c.InlineMax)
	}
	if c.DefaultTTL < time.Second {
		return errors.New("jobs: default TTL must be at least 1s")
	}
	return nil
}

// Fault is a failure injected into a job message publish by tests.
type Fault int

const (
	// NoFault publishes normally.
	NoFault Fault = iota
	// LoseAck stores the message but loses its acknowledgement on the
	// way back: Submit hears a timeout.
	LoseAck
	// LoseMessage loses the message on the way to JetStream (the
	// connection died): nothing is stored and Submit hears a timeout.
	LoseMessage
)

// errLost is the outcome Submit sees for an injected Fault.
var errLost = fmt.Errorf("injected fault: %w", context.DeadlineExceeded)

// Store reads and writes jobs in JetStream.
type Store struct {
	res    *natsx.Resources
	cfg    Config
	queues *queueCache
	// cursors caches ordered sequences' cursors (sequence_cache.go).
	cursors cursorCache
	// handovers tracks the ends of ordered jobs under way (sequence_cache.go).
	handovers handovers
}

// NewStore returns a Store over the broker's JetStream resources.
func NewStore(res *natsx.Resources, cfg Config) (*Store, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Store{res: res, cfg: cfg, queues: newQueueCache(res, cfg.QueueCacheTTL, cfg.Now)}, nil
}

// Config returns the effective configuration.
func (s *Store) Config() Config { return s.cfg }

// Now returns the store's clock reading.
func (s *Store) Now() time.Time { return s.cfg.Now() }

// Get returns a job's record and its revision. A job that no dispatcher
// has written a record for yet (it waits in its queue, or its first
// attempt is short and under way) is read from its queued message: the
// record Accept makes of it, with revision 0, which Apply turns into a
// create. ErrNotFound when there is neither.
func (s *Store) Get(ctx context.Context, id string) (*cpibv1.JobRecord, uint64, error) {
	return s.lookup(ctx, "", id)
}

// GetOwned is Get restricted to the owning client: others see ErrNotFound.
func (s *Store) GetOwned(ctx context.Context, client, id string) (*cpibv1.JobRecord, uint64, error) {
	rec, rev, err := s.lookup(ctx, client, id)
	if err != nil {
		return nil, 0, err
	}
	if rec.GetClient() != client {
		return nil, 0, ErrNotFound
	}
	return rec, rev, nil
}

// lookup reads the record of id, else its queued message (of client, or
// of any client when ""), else the record again: a dispatcher writes the
// record before it acknowledges (removes) the message, so a job handled
// between the first two reads is found by the third.
func (s *Store) lookup(ctx context.Context, client, id string) (*cpibv1.JobRecord, uint64, error) {
	rec, rev, err := s.record(ctx, id)
	if !errors.Is(err, ErrNotFound) || !subjectToken(id) {
		return rec, rev, err
	}
	job, err := s.queuedMessage(ctx, client, id)
	if err == nil {
		return Accept(job), 0, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, 0, err
	}
	return s.record(ctx, id)
}

// queuedMessage reads the job message of id from its queue with one
// direct get (JobLookup: the ID is the subject's last token).
func (s *Store) queuedMessage(ctx context.Context, client, id string) (*cpibv1.Job, error) {
	m, err := s.res.Jobs.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(natsx.JobLookup(client, id)))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("%w: get job message: %w", ErrUnavailable, err)
	}
	job := &cpibv1.Job{}
	if err := proto.Unmarshal(m.Data, job); err != nil || job.GetId() != id {
		return nil, ErrNotFound // not a job message of id: nothing to show
	}
	return job, nil
}

// subjectToken reports whether id can stand as one subject token (job IDs
// are ULIDs): a partner's '*', '>' or '.' must never widen a lookup.
func subjectToken(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// record reads the stored record of id. ErrNotFound when absent.
func (s *Store) record(ctx context.Context, id string) (*cpibv1.JobRecord, uint64, error) {
	e, err := s.res.Records.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%w: get record: %w", ErrUnavailable, err)
	}
	rec := &cpibv1.JobRecord{}
	if err := proto.Unmarshal(e.Value(), rec); err != nil {
		return nil, 0, fmt.Errorf("jobs: decode record %s: %w", id, err)
	}
	return rec, e.Revision(), nil
}

// put writes rec if the stored revision is still rev (compare-and-set; rev
// 0: if there is no record yet) and returns the new revision. ErrConflict when someone else wrote first.
// Only the lifecycle (Apply) writes records.
func (s *Store) put(ctx context.Context, rec *cpibv1.JobRecord, rev uint64) (uint64, error) {
	if rev == 0 {
		return s.create(ctx, rec) // read from its message: no record yet
	}
	b, err := proto.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("jobs: encode record: %w", err)
	}
	if !subjectToken(rec.GetId()) {
		n, err := s.res.Records.Update(ctx, rec.GetId(), b, rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			return 0, ErrConflict
		}
		if err != nil {
			return 0, fmt.Errorf("%w: update record: %w", ErrUnavailable, err)
		}
		return n, nil
	}
	return s.writeRecord(ctx, rec.GetId(), b, rev)
}

// create writes a record that must not exist yet. ErrConflict if it does.
func (s *Store) create(ctx context.Context, rec *cpibv1.JobRecord) (uint64, error) {
	b, err := proto.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("jobs: encode record: %w", err)
	}
	if subjectToken(rec.GetId()) {
		n, err := s.writeRecord(ctx, rec.GetId(), b, 0)
		if !errors.Is(err, ErrConflict) {
			return n, err
		}
		// Something is at the key: a record, or the delete marker of an
		// earlier one, which KV's Create writes over.
	}
	n, err := s.res.Records.Create(ctx, rec.GetId(), b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, ErrConflict
	}
	if err != nil {
		return 0, fmt.Errorf("%w: create record: %w", ErrUnavailable, err)
	}
	return n, nil
}

// writeRecord is KV's compare-and-set update of the record id (expect: the
// key's revision, 0 for none), published straight to the bucket's subject
// and awaited: the same write as Records.Update, without its key check and
// its synchronous request, which cost several times as much CPU per write
// on the dispatcher's hot path. ErrConflict when the revision moved.
func (s *Store) writeRecord(ctx context.Context, id string, b []byte, expect uint64) (uint64, error) {
	msg := &nats.Msg{Subject: "$KV." + natsx.BucketJobs + "." + id, Data: b}
	ack, err := s.await(ctx, msg, jetstream.WithExpectLastSequencePerSubject(expect))
	if isWrongLastSeq(err) {
		return 0, ErrConflict
	}
	if err != nil {
		return 0, fmt.Errorf("%w: write record: %w", ErrUnavailable, err)
	}
	return ack.Sequence, nil
}

// await publishes msg and waits for its acknowledgement, at most
// StoreTimeout when ctx has no earlier deadline.
func (s *Store) await(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	f, err := s.res.JS.PublishMsgAsync(msg, opts...)
	if err != nil {
		return nil, err
	}
	return awaitAck(ctx, f, s.cfg.StoreTimeout)
}

// mutate reads a record, applies fn and writes it back with
// compare-and-set, retrying on conflicts. fn returns an error to abort
// without writing; that error is returned as is. Tests use it to put a
// record in a given state.
func (s *Store) mutate(ctx context.Context, id string, fn func(*cpibv1.JobRecord) error) (*cpibv1.JobRecord, uint64, error) {
	for i := 0; ; i++ {
		rec, rev, err := s.Get(ctx, id)
		if err != nil {
			return nil, 0, err
		}
		if err := fn(rec); err != nil {
			return rec, rev, err
		}
		n, err := s.put(ctx, rec, rev)
		if errors.Is(err, ErrConflict) && i < 16 {
			continue
		}
		return rec, n, err
	}
}
