package natsx

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedConfig configures the single-node JetStream server that runs
// inside the cpibroker process.
type EmbeddedConfig struct {
	// StoreDir is the data directory; JetStream files go to StoreDir/jetstream.
	StoreDir string
	// SyncAlways fsyncs every write (--fsync always). The default, false,
	// flushes to the OS before acknowledging, which survives a killed
	// process but not a power loss.
	SyncAlways bool
	// Listen, when set (host:port), also exposes a client listener so the
	// `nats` CLI and other processes can connect. Empty means in-process only.
	Listen string
	// MaxPayload is the largest message the server accepts. Default 8 MiB.
	MaxPayload int32
	// ReadyTimeout bounds the wait for the server to accept connections.
	// Default 30s.
	ReadyTimeout time.Duration
	// Logger receives the server's warnings and errors.
	Logger *slog.Logger
}

func (c *EmbeddedConfig) setDefaults() {
	if c.MaxPayload == 0 {
		c.MaxPayload = 8 << 20
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports a configuration that cannot start.
func (c *EmbeddedConfig) Validate() error {
	if c.StoreDir == "" {
		return errors.New("natsx: embedded server needs a store directory")
	}
	return nil
}

// StartEmbedded starts a JetStream server in this process and waits until
// it accepts connections with JetStream enabled.
func StartEmbedded(cfg EmbeddedConfig) (*server.Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(cfg.StoreDir)
	if err != nil {
		return nil, fmt.Errorf("natsx: store dir: %w", err)
	}
	opts := &server.Options{
		ServerName: "cpibroker",
		JetStream:  true,
		StoreDir:   abs,
		SyncAlways: cfg.SyncAlways,
		MaxPayload: cfg.MaxPayload,
		NoSigs:     true,
		DontListen: cfg.Listen == "",
	}
	if cfg.Listen != "" {
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			return nil, err
		}
		if port == 0 {
			// nats-server reads port 0 as its default, 4222; ":0" means
			// any free port here, as it does for net.Listen.
			port = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, port
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsx: new server: %w", err)
	}
	// A logger whose Fatalf does not exit: a JetStream start failure must
	// come back as an error, not end the process (nats.md 2.1).
	fatal := make(chan string, 1)
	ns.SetLoggerV2(&serverLogger{log: cfg.Logger, fatal: fatal}, false, false, false)
	ns.Start()
	select {
	case msg := <-fatal:
		// Start reports a JetStream failure synchronously: do not wait
		// ReadyTimeout for a server that will never be ready.
		ns.Shutdown()
		return nil, fmt.Errorf("natsx: embedded server did not start: %s", msg)
	default:
	}
	if !ns.ReadyForConnections(cfg.ReadyTimeout) || !ns.JetStreamEnabled() {
		ns.Shutdown()
		select {
		case msg := <-fatal:
			return nil, fmt.Errorf("natsx: embedded server did not start: %s", msg)
		default:
			return nil, errors.New("natsx: embedded server did not start in time")
		}
	}
	return ns, nil
}

type serverLogger struct {
	log   *slog.Logger
	fatal chan string
}

func (l *serverLogger) Noticef(format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...), "component", "nats")
}
func (l *serverLogger) Warnf(format string, v ...any) {
	l.log.Warn(fmt.Sprintf(format, v...), "component", "nats")
}
func (l *serverLogger) Errorf(format string, v ...any) {
	l.log.Error(fmt.Sprintf(format, v...), "component", "nats")
}
func (l *serverLogger) Debugf(string, ...any) {}
func (l *serverLogger) Tracef(string, ...any) {}
func (l *serverLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error(msg, "component", "nats")
	select {
	case l.fatal <- msg:
	default:
	}
}
