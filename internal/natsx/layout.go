package natsx

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Layout sizes the streams and buckets.
type Layout struct {
	// Replicas for every stream and bucket: 1 on a single node, 3 on a cluster.
	Replicas int
	// Retention is how long job records, events and payload objects are kept.
	// Default 7 days.
	Retention time.Duration
	// IdempotencyWindow is how long an Idempotency-Key is remembered. Default 24h.
	IdempotencyWindow time.Duration
	// DuplicateWindow is the JOBS stream's Nats-Msg-Id window. Default 10m.
	DuplicateWindow time.Duration
	// MaxValueSize bounds one KV value or stream message. Default 1 MiB.
	MaxValueSize int32
	// AckWait is how long a pulled job may go without an ack or progress
	// signal before JetStream redelivers it (the crash-recovery delay).
	// Dispatchers signal progress every AckWait/3. Default 30s.
	AckWait time.Duration
	// MaxAttemptsPerJob caps the delivery log of one job (the oldest
	// attempts are dropped first). Default 100.
	MaxAttemptsPerJob int64
	// MaxConsumers is how many consumers the JOBS and DELIVERIES streams
	// may hold: two per (client, flow) on JOBS (queue and retry), one per
	// webhook endpoint lane on DELIVERIES. nats-server caps a stream that
	// sets no limit at 1000 consumers (default_max_consumers), which 500
	// active (client, flow) pairs would reach. Default 100 000.
	MaxConsumers int
}

func (l *Layout) setDefaults() {
	if l.Replicas == 0 {
		l.Replicas = 1
	}
	if l.Retention == 0 {
		l.Retention = 7 * 24 * time.Hour
	}
	if l.IdempotencyWindow == 0 {
		l.IdempotencyWindow = 24 * time.Hour
	}
	if l.DuplicateWindow == 0 {
		l.DuplicateWindow = 10 * time.Minute
	}
	if l.MaxValueSize == 0 {
		l.MaxValueSize = 1 << 20
	}
	if l.AckWait == 0 {
		l.AckWait = 30 * time.Second
	}
	if l.MaxConsumers == 0 {
		l.MaxConsumers = 100_000
	}
	if l.MaxAttemptsPerJob == 0 {
		l.MaxAttemptsPerJob = 100
	}
}

// Validate reports an impossible layout.
func (l *Layout) Validate() error {
	switch {
	case l.Replicas < 1 || l.Replicas > 5:
		return fmt.Errorf("natsx: replicas must be 1..5, got %d", l.Replicas)
	case l.Retention < time.Minute:
		return errors.New("natsx: retention must be at least 1m")
	case l.DuplicateWindow < time.Second:
		return errors.New("natsx: duplicate window must be at least 1s")
	case l.AckWait < time.Second:
		return errors.New("natsx: ack wait must be at least 1s")
	case l.MaxConsumers < 1:
		return errors.New("natsx: max consumers must be at least 1")
	case l.MaxAttemptsPerJob < 1:
		return errors.New("natsx: max attempts per job must be at least 1")
	}
	return nil
}

// Resources are the JetStream handles every component works with.
type Resources struct {
	JS     jetstream.JetStream
	Jobs   jetstream.Stream
	Events jetstream.Stream
	DLQ    jetstream.Stream
	// Deliveries holds webhook delivery tasks and their retry schedules.
	Deliveries jetstream.Stream
	// Attempts is the delivery log: cpib.attempts.<client>.<job>.
	Attempts jetstream.Stream
	Audit    jetstream.Stream
	Records  jetstream.KeyValue
	Idem     jetstream.KeyValue
	Catalog  jetstream.KeyValue
	Clients  jetstream.KeyValue
	Quota    jetstream.KeyValue
	Breakers jetstream.KeyValue
	Leases   jetstream.KeyValue
	// Callbacks is the per-client set of recent Callback-URL origins.
	Callbacks jetstream.KeyValue
	Payloads  jetstream.ObjectStore
	// Seq holds the jobs with an Ordering-Key in the order they were
	// accepted (cpib.seq.<client>.<flow>.<keyhash>); Cursors the head of
	// each key's sequence.
	Seq     jetstream.Stream
	Cursors jetstream.KeyValue
	Layout  Layout
}

// Ensure creates or updates every stream, bucket and object store of the
// layout and returns their handles. It is idempotent and safe to run from
// several processes at once.
func Ensure(ctx context.Context, js jetstream.JetStream, l Layout) (*Resources, error) {
	l.setDefaults()
	if err := l.Validate(); err != nil {
		return nil, err
	}
	r := &Resources{JS: js, Layout: l}
	streams := []struct {
		dst *jetstream.Stream
		cfg jetstream.StreamConfig
	}{
		{&r.Jobs, jetstream.StreamConfig{
			Name: StreamJobs, Subjects: []string{"cpib.jobs.>"},
			Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
			Replicas: l.Replicas, Duplicates: l.DuplicateWindow,
			AllowMsgSchedules: true, AllowDirect: true, MaxMsgSize: l.MaxValueSize,
			MaxConsumers: l.MaxConsumers,
		}},
		{&r.Events, jetstream.StreamConfig{
			Name: StreamEvents, Subjects: []string{"cpib.events.>"},
			Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
			Replicas: l.Replicas, MaxAge: l.Retention, AllowDirect: true,
			// Events are de-duplicated by Nats-Msg-Id <job>.<run>: a
			// redelivered job re-publishes its event without a second copy.
			Duplicates: l.DuplicateWindow,
		}},
		{&r.Deliveries, jetstream.StreamConfig{
			Name: StreamDeliveries, Subjects: []string{"cpib.deliveries.>"},
			Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
			Replicas: l.Replicas, Duplicates: l.DuplicateWindow,
			AllowMsgSchedules: true, MaxMsgSize: l.MaxValueSize, MaxConsumers: l.MaxConsumers,
		}},
		{&r.DLQ, jetstream.StreamConfig{
			Name: StreamDLQ, Subjects: []string{"cpib.dlq.>"},
			Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
			Replicas: l.Replicas, MaxAge: l.Retention, AllowDirect: true,
		}},
		{&r.Attempts, jetstream.StreamConfig{
			Name: StreamAttempts, Subjects: []string{"cpib.attempts.>"},
			Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
			Replicas: l.Replicas, MaxAge: l.Retention, AllowDirect: true,
			MaxMsgsPerSubject: l.MaxAttemptsPerJob, Discard: jetstream.DiscardOld,
		}},
		{&r.Seq, jetstream.StreamConfig{
			Name: StreamSeq, Subjects: []string{"cpib.seq.>"},
			// Limits retention without consumers: a key's jobs are read by
			// direct get, one at a time; a job's message is deleted once
			// its sequence moved past it (MaxAge is the backstop).
			Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
			Replicas: l.Replicas, MaxAge: l.Retention, AllowDirect: true,
			Duplicates: l.DuplicateWindow, MaxMsgSize: l.MaxValueSize,
		}},
		{&r.Audit, jetstream.StreamConfig{
			Name: StreamAudit, Subjects: []string{"cpib.audit.>"},
			Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
			Replicas: l.Replicas, MaxAge: l.Retention,
		}},
	}
	for _, s := range streams {
		if err := settle(ctx, func(ctx context.Context) (err error) {
			s.cfg.Replicas = keepReplicas(ctx, js, s.cfg.Name, l.Replicas)
			*s.dst, err = js.CreateOrUpdateStream(ctx, s.cfg)
			return err
		}); err != nil {
			return nil, fmt.Errorf("natsx: stream %s: %w", s.cfg.Name, explain(err, l.Replicas))
		}
	}
	buckets := []struct {
		dst *jetstream.KeyValue
		cfg jetstream.KeyValueConfig
	}{
		{&r.Records, jetstream.KeyValueConfig{Bucket: BucketJobs, TTL: l.Retention, MaxValueSize: l.MaxValueSize}},
		{&r.Idem, jetstream.KeyValueConfig{Bucket: BucketIdem, TTL: l.IdempotencyWindow}},
		{&r.Catalog, jetstream.KeyValueConfig{Bucket: BucketCatalog, History: 5}},
		{&r.Clients, jetstream.KeyValueConfig{Bucket: BucketClients, History: 5}},
		{&r.Quota, jetstream.KeyValueConfig{Bucket: BucketQuota}},
		{&r.Breakers, jetstream.KeyValueConfig{Bucket: BucketBreakers}},
		{&r.Leases, jetstream.KeyValueConfig{Bucket: BucketLeases, LimitMarkerTTL: time.Minute}},
		{&r.Callbacks, jetstream.KeyValueConfig{Bucket: BucketCallbacks}},
		{&r.Cursors, jetstream.KeyValueConfig{Bucket: BucketSeq}},
	}
	for _, b := range buckets {
		b.cfg.Storage = jetstream.FileStorage
		if err := settle(ctx, func(ctx context.Context) (err error) {
			b.cfg.Replicas = keepReplicas(ctx, js, "KV_"+b.cfg.Bucket, l.Replicas)
			*b.dst, err = js.CreateOrUpdateKeyValue(ctx, b.cfg)
			return err
		}); err != nil {
			return nil, fmt.Errorf("natsx: bucket %s: %w", b.cfg.Bucket, explain(err, l.Replicas))
		}
	}
	if err := settle(ctx, func(ctx context.Context) (err error) {
		r.Payloads, err = js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket: ObjectPayloads, TTL: l.Retention, Storage: jetstream.FileStorage,
			Replicas: keepReplicas(ctx, js, "OBJ_"+ObjectPayloads, l.Replicas),
		})
		return err
	}); err != nil {
		return nil, fmt.Errorf("natsx: object store %s: %w", ObjectPayloads, explain(err, l.Replicas))
	}
	return r, nil
}

// keepReplicas is the replica count to ask for a stream: want, or the
// stream's current count when that is higher. Ensure raises replicas but
// never lowers them: one process started without --replicas 3 must not
// take a cluster's jobs down to one copy. Lowering is an operator's
// explicit act (nats stream edit).
func keepReplicas(ctx context.Context, js jetstream.JetStream, stream string, want int) int {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return want
	}
	return max(want, s.CachedInfo().Config.Replicas)
}

// settleTimeout bounds how long Ensure waits out a cluster that is still
// forming or electing (no meta leader, a peer not yet seen online).
const settleTimeout = time.Minute

// settle runs op until it succeeds, fails for a reason other than a
// transient cluster state, or settleTimeout passes.
func settle(ctx context.Context, op func(context.Context) error) error {
	end := time.Now().Add(settleTimeout)
	for {
		// Short attempts: a request sent before the cluster has a meta
		// leader gets no answer at all, and neither do all but one of
		// several processes creating the same stream at once (measured on
		// a 3-node cluster: the others time out, the stream exists). The
		// operations are idempotent, so a retry finds the stream made.
		octx, cancel := context.WithTimeout(ctx, time.Second)
		err := op(octx)
		cancel()
		if err == nil || !transient(err) || ctx.Err() != nil || time.Now().After(end) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// JetStream error codes of a cluster that is not ready yet.
const (
	errCodeNoPeers       jetstream.ErrorCode = 10005 // no suitable peers for placement
	errCodeClusterNotAvl jetstream.ErrorCode = 10008 // JetStream system temporarily unavailable
	// errCodeReplicasNotSupported: replicas > 1 on a server that is not
	// clustered.
	errCodeReplicasNotSupported jetstream.ErrorCode = 10074
)

func transient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == errCodeNoPeers || apiErr.ErrorCode == errCodeClusterNotAvl
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout)
}

// explain adds what to do to the errors an operator meets when --replicas
// does not fit the servers.
func explain(err error, replicas int) error {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return err
	}
	switch apiErr.ErrorCode {
	case errCodeNoPeers:
		return fmt.Errorf("%w (--replicas %d needs that many JetStream servers up in the cluster)", err, replicas)
	case jetstream.JSErrCodeBadRequest, errCodeReplicasNotSupported:
		if replicas > 1 {
			return fmt.Errorf("%w (--replicas %d needs a clustered JetStream; a single server takes --replicas 1)", err, replicas)
		}
	}
	return err
}
