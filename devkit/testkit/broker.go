package testkit

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/demo"
	"github.com/cpibroker/cpibroker/internal/natsx"
)

// Options adjust a test system.
type Options struct {
	// DataDir reuses a store (for restart tests); default t.TempDir().
	DataDir string
	// Configure edits the broker configuration before start.
	Configure func(*broker.Config)
	// Sim reuses a simulator; default a new one with the demo iFlows.
	Sim    *cpisim.Sim
	SimCfg cpisim.Config
	// NATSURLs runs the broker against an external NATS (a Cluster's
	// URLs) instead of an embedded server, with Replicas (default 1).
	NATSURLs string
	Replicas int
	// NoIngress and NoDispatcher leave a role out, as the `cpibroker
	// dispatcher` and `cpibroker ingress` commands do.
	NoIngress, NoDispatcher bool
	// Join, set to a System on the same NATS, shares its simulator and demo
	// credentials: the demo catalog is already there, so it is not set up
	// again.
	Join *System
}

// System is a running broker with the demo provider, flows and clients.
type System struct {
	T       testing.TB
	Broker  *broker.Broker
	Sim     *cpisim.Sim
	SimCfg  cpisim.Config
	Creds   demo.Credentials
	DataDir string
	BaseURL string
	// Resolver answers every DNS lookup of the SSRF guard (webhook and
	// callback hosts); tests add names to it.
	Resolver *Resolver

	killed atomic.Bool
}

// Kill stops the broker the way JetStream sees a killed process: its NATS
// connection is cut first, with its jobs in flight, so nothing it pulled
// is acknowledged, released or recorded afterwards; then it stops.
func (s *System) Kill() {
	s.killed.Store(true)
	s.Broker.NC.Close()
	_ = s.Broker.Stop()
}

// Logger returns a logger that writes to the test log only on -v with
// CPIB_TEST_LOG set, else discards.
func Logger(t testing.TB) *slog.Logger {
	if os.Getenv("CPIB_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Start runs a whole broker (ingress and dispatcher) on an embedded
// JetStream in a temp dir, with the CPI simulator as provider "demo".
// Everything stops at test cleanup.
func Start(t testing.TB, o Options) *System {
	t.Helper()
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	log := Logger(t)
	if o.Join != nil {
		o.Sim, o.SimCfg = o.Join.Sim, o.Join.SimCfg
	}
	sim, simCfg := o.Sim, o.SimCfg
	if sim == nil {
		var err error
		sim, simCfg, err = demo.Sim(log)
		if err != nil {
			t.Fatalf("simulator: %v", err)
		}
		t.Cleanup(func() { _ = sim.Close() })
	}
	cfg := broker.Config{
		DataDir: o.DataDir, Ingress: !o.NoIngress, Dispatcher: !o.NoDispatcher, Logger: log,
		Layout: natsx.Layout{AckWait: 5 * time.Second, Replicas: o.Replicas},
	}
	cfg.NATS.URLs = o.NATSURLs
	cfg.IngressConfig.Listen = "127.0.0.1:0"
	cfg.IngressConfig.PublicURL = "http://127.0.0.1"
	cfg.DispatcherConfig.ReconcileInterval = 200 * time.Millisecond
	cfg.DispatcherConfig.IdleWait = time.Second
	cfg.DispatcherConfig.Grace = 5 * time.Second
	// Receivers in tests listen on loopback; names resolve without DNS.
	resolver := NewResolver()
	cfg.Callbacks.AllowPrivate, cfg.Callbacks.Resolver = true, resolver
	cfg.Delivery.ReconcileInterval = 200 * time.Millisecond
	cfg.Delivery.IdleWait = time.Second
	cfg.Delivery.Timeout = 5 * time.Second
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b, err := broker.Start(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("broker: %v", err)
	}
	s := &System{T: t, Broker: b, Sim: sim, SimCfg: simCfg, DataDir: o.DataDir, BaseURL: b.BaseURL(), Resolver: resolver}
	t.Cleanup(func() {
		cancel()
		if err := b.Wait(); err != nil && !s.killed.Load() {
			t.Errorf("broker stopped with: %v", err)
		}
	})
	if o.Join != nil {
		s.Creds = o.Join.Creds
		s.Creds.BaseURL = s.BaseURL
		return s
	}
	if s.Creds, err = demo.Setup(ctx, b.Catalog, b.Discovery, sim, simCfg, b.BaseURL(), o.DataDir); err != nil {
		t.Fatalf("demo setup: %v", err)
	}
	return s
}

// AddFlow deploys an iFlow on the simulator, publishes it as flow
// "demo-<lowercased id>" (enabled, default policy edited by policy) and
// grants it to the demo partner. It returns the flow ID. The iFlow is CSRF
// protected, like the demo provider says its tenant is.
func (s *System) AddFlow(f cpisim.IFlow, policy func(*catalog.Policy)) string {
	s.T.Helper()
	f.CSRF = true
	if err := s.Sim.Deploy(f); err != nil {
		s.T.Fatalf("deploy %s: %v", f.ID, err)
	}
	id := "demo-" + strings.ToLower(f.ID)
	flow := catalog.Flow{
		ID: id, Provider: demo.ProviderID, ArtifactID: f.ID, Address: f.Address, Title: f.Name,
		URL: s.Sim.EndpointURL(f.ID), Status: catalog.FlowEnabled, Policy: catalog.DefaultPolicy(),
	}
	if policy != nil {
		policy(&flow.Policy)
	}
	ctx := context.Background()
	if err := s.Broker.Catalog.PutFlow(ctx, flow, false); err != nil {
		s.T.Fatalf("flow %s: %v", id, err)
	}
	c, _ := s.Broker.Catalog.Client(demo.PartnerID)
	c.Grants = append(c.Grants, id)
	if err := s.Broker.Catalog.PutClient(ctx, c, false); err != nil {
		s.T.Fatalf("grant %s: %v", id, err)
	}
	return id
}

// AllowCallbacks adds callback prefixes to the demo partner, for example
// a test receiver's base URL and "/" ("http://127.0.0.1:41234/"): a
// Callback-URL must have the scheme, host and port of a prefix.
func (s *System) AllowCallbacks(prefixes ...string) {
	s.T.Helper()
	if _, err := s.Broker.Catalog.UpdateClient(context.Background(), demo.PartnerID, func(c *catalog.Client) error {
		c.CallbackPrefixes = append(c.CallbackPrefixes, prefixes...)
		return nil
	}); err != nil {
		s.T.Fatalf("callback prefixes %v: %v", prefixes, err)
	}
}

// Eventually polls cond until it holds or the deadline passes.
func Eventually(t testing.TB, deadline time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s", deadline, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
