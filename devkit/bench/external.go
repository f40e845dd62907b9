package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats.go/jetstream"
)

// cpibStreams reports whether a stream belongs to cpibroker's layout (or
// the baseline), which resetExternal deletes.
func cpibStream(name string) bool {
	switch name {
	case natsx.StreamJobs, natsx.StreamEvents, natsx.StreamDLQ, natsx.StreamAudit, natsx.StreamDeliveries, baselineStream:
		return true
	}
	return strings.HasPrefix(name, "KV_cpib-") || strings.HasPrefix(name, "OBJ_cpib-")
}

// resetExternal deletes cpibroker's streams and buckets on the external
// NATS of cfg (nothing without one), so each phase starts empty as it
// does on a fresh embedded server.
func resetExternal(ctx context.Context, cfg Config) error {
	if cfg.NATSURL == "" {
		return nil
	}
	nc, js, err := natsx.Connect(natsx.ConnectConfig{URLs: cfg.NATSURL, Name: "cpibroker-bench-reset", Logger: cfg.Logger})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var names []string
	lister := js.StreamNames(ctx)
	for name := range lister.Name() {
		if cpibStream(name) {
			names = append(names, name)
		}
	}
	if err := lister.Err(); err != nil {
		return fmt.Errorf("bench: list streams: %w", err)
	}
	for _, name := range names {
		if err := js.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("bench: delete stream %s: %w", name, err)
		}
	}
	return nil
}

// addIdleConsumers registers n partners granted the bench flow, each with
// its own (client, flow) consumer on JOBS and nothing queued: the
// dispatcher keeps a long-polling puller per consumer, as it does for n
// quiet partners. It returns once the dispatcher had a reconcile round to
// find them.
func (s *system) addIdleConsumers(ctx context.Context, cfg Config) error {
	cat := s.b.Catalog
	secret, err := newSecret()
	if err != nil {
		return err
	}
	hash, err := catalog.HashSecret(secret)
	if err != nil {
		return err
	}
	start := time.Now()
	for i := range cfg.IdleConsumers {
		id := fmt.Sprintf("idle-%05d", i)
		if err := cat.PutClient(ctx, catalog.Client{
			ID: id, Name: "Idle partner", Roles: []string{catalog.RolePartner}, Enabled: true,
			Grants: []string{benchFlow}, CallbackPrefixes: []string{}, Weight: 1, SecretHashes: []string{hash},
		}, false); err != nil {
			return fmt.Errorf("bench: idle client %s: %w", id, err)
		}
		if _, err := natsx.EnsureConsumer(ctx, s.b.Resources.JS, natsx.KindQueue, id, benchFlow, s.b.Resources.Layout.AckWait); err != nil {
			return fmt.Errorf("bench: idle consumer %s: %w", id, err)
		}
	}
	logf(cfg.Progress, "bench: %d idle partners and consumers added in %.1fs", cfg.IdleConsumers, time.Since(start).Seconds())
	// The dispatcher lists consumers every 2s (ReconcileInterval); two
	// rounds start a puller for each.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(5 * time.Second):
	}
	return nil
}
