package natsx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ConnectConfig says how to reach NATS: an in-process server or URLs.
type ConnectConfig struct {
	// Server, when set, is an embedded server reached in-process.
	Server *server.Server
	// URLs is a comma-separated list of nats:// URLs (--nats-url).
	URLs string
	// Name identifies the connection in server monitoring.
	Name string
	// User and Password, CredsFile or NKeyFile authenticate to an external cluster.
	User, Password, CredsFile, NKeyFile string
	// TLS CA, cert and key files for an external cluster.
	CAFile, CertFile, KeyFile string
	// Logger receives connection state changes.
	Logger *slog.Logger
}

// Validate reports a configuration that names no server.
func (c ConnectConfig) Validate() error {
	if c.Server == nil && strings.TrimSpace(c.URLs) == "" {
		return errors.New("natsx: no NATS server: give --nats-url or run embedded")
	}
	return nil
}

// Connect opens a NATS connection that reconnects forever and a JetStream
// context on it.
func Connect(cfg ConnectConfig) (*nats.Conn, jetstream.JetStream, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		// No reconnect buffer: a publish while disconnected fails at once, so
		// a partner never gets a 503 for a job that is stored later.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(c *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			level := slog.LevelWarn
			if c.IsDraining() || c.IsClosed() {
				// Shutting down: pulls still open answer with errors
				// that say nothing about the system's health.
				level = slog.LevelDebug
			}
			log.Log(context.Background(), level, "nats async error", "subject", subject, "err", err)
		}),
	}
	url := cfg.URLs
	if cfg.Server != nil {
		opts = append(opts, nats.InProcessServer(cfg.Server))
		url = ""
	}
	if cfg.User != "" {
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.NKeyFile != "" {
		o, err := nats.NkeyOptionFromSeed(cfg.NKeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("natsx: nkey: %w", err)
		}
		opts = append(opts, o)
	}
	if cfg.CAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.CAFile))
	}
	if cfg.CertFile != "" {
		opts = append(opts, nats.ClientCert(cfg.CertFile, cfg.KeyFile))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("natsx: connect: %w", err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192))
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("natsx: jetstream: %w", err)
	}
	return nc, js, nil
}
