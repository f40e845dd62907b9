package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/cpibroker/cpibroker/internal/health"
	"github.com/cpibroker/cpibroker/internal/metrics"
	"github.com/nats-io/nats.go"
)

// running is a role's liveness as the readiness check sees it.
type running struct{ on atomic.Bool }

// track marks the role running while fn runs.
func (r *running) track(fn func() error) error {
	r.on.Store(true)
	defer r.on.Store(false)
	return fn()
}

func (r *running) check(role string) health.CheckFunc {
	return func(context.Context) error {
		if !r.on.Load() {
			return errors.New(role + " is not running")
		}
		return nil
	}
}

// setupOps builds the health checker, the metrics exposition and the
// instruments every role records into.
func (b *Broker) setupOps() error {
	b.Health = health.New(2 * time.Second)
	nc := b.NC
	b.Health.Add("nats", func(context.Context) error {
		if st := nc.Status(); st != nats.CONNECTED {
			return fmt.Errorf("NATS connection is %s", st)
		}
		return nil
	})
	kv := b.Resources.Records
	b.Health.Add("jetstream", func(ctx context.Context) error {
		if nc.Status() != nats.CONNECTED {
			return errors.New("no NATS connection")
		}
		if _, err := kv.Status(ctx); err != nil {
			return fmt.Errorf("job records bucket unreachable: %w", err)
		}
		return nil
	})
	exp := b.Config.Metrics
	if exp.Provider == nil {
		var err error
		if exp, err = metrics.NewPrometheus(); err != nil {
			return err
		}
		b.stopMetrics = exp.Shutdown
	}
	b.MetricsHandler, b.meters = exp.Handler, exp.Provider
	var err error
	if b.Metrics, err = metrics.New(exp.Provider); err != nil {
		return err
	}
	b.Backlog = metrics.NewBacklogSampler(b.Resources.JS, b.Config.BacklogTTL)
	if err := metrics.ObserveBacklog(exp.Provider, b.Backlog); err != nil {
		return err
	}
	return metrics.ObserveLanes(exp.Provider, metrics.NewLaneSampler(b.Resources.JS, b.Config.LanesTTL))
}

// runOps serves /healthz, /readyz and /metrics on the admin listener of a
// process without the ingress role, until ctx ends.
func (b *Broker) runOps(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", b.Health.Healthz)
	mux.HandleFunc("GET /readyz", b.Health.Readyz)
	if b.MetricsHandler != nil {
		mux.Handle("GET /metrics", b.MetricsHandler)
	}
	srv := &http.Server{
		Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("broker: admin listener: %w", err)
	case <-ctx.Done():
	}
	b.Health.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
