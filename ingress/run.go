package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
)

// Run serves until ctx ends, then drains (DESIGN 5): new work is answered
// 503 unavailable with Retry-After, /healthz and /readyz answer 503,
// long-polls end with the current state, and responses close their
// connections. After DrainDelay the listeners close; in-flight requests get
// until ShutdownGrace to finish.
func (s *Server) Run(ctx context.Context) error {
	var tlsCfg *tls.Config
	if s.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("ingress: TLS key pair: %w", err)
		}
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	ln, err := listen(s.cfg.Listener, s.cfg.Listen, tlsCfg)
	if err != nil {
		return err
	}
	servers := []*http.Server{s.httpServer(ctx, s.engine)}
	listeners := []net.Listener{ln}
	s.addrMu.Lock()
	s.addr = ln.Addr()
	s.addrMu.Unlock()
	go s.policy.follow(ctx)
	if s.admin != nil {
		aln, err := listen(s.cfg.AdminListener, s.cfg.AdminListen, tlsCfg)
		if err != nil {
			_ = ln.Close()
			return err
		}
		servers = append(servers, s.httpServer(ctx, s.admin))
		listeners = append(listeners, aln)
		s.addrMu.Lock()
		s.adminAdr = aln.Addr()
		s.addrMu.Unlock()
	}
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	close(s.ready)
	select {
	case err := <-errc:
		for _, srv := range servers {
			_ = srv.Close()
		}
		return fmt.Errorf("ingress: serve: %w", err)
	case <-ctx.Done():
	}
	s.Drain()
	for _, srv := range servers {
		srv.SetKeepAlivesEnabled(false)
	}
	if s.cfg.DrainDelay > 0 {
		s.log.Info("ingress: draining; answering 503 to new work", "drain_delay", s.cfg.DrainDelay.String())
		select {
		case <-time.After(s.cfg.DrainDelay):
		case err := <-errc:
			return fmt.Errorf("ingress: serve: %w", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	var g errgroup.Group
	for _, srv := range servers {
		g.Go(func() error {
			if err := srv.Shutdown(sctx); err != nil {
				_ = srv.Close()
				if errors.Is(err, context.DeadlineExceeded) {
					s.log.Warn("ingress: shutdown grace over; open requests closed", "grace", s.cfg.ShutdownGrace.String())
					return nil
				}
				return fmt.Errorf("ingress: shutdown: %w", err)
			}
			return nil
		})
	}
	return g.Wait()
}

// listen returns ln or a new listener on addr, wrapped in TLS when cfg is set.
func listen(ln net.Listener, addr string, cfg *tls.Config) (net.Listener, error) {
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("ingress: listen %s: %w", addr, err)
		}
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	return ln, nil
}

// httpServer applies the HTTP hygiene of DESIGN 8: read-header and whole
// request timeouts, a write timeout above the longest long-poll, an idle
// timeout and bounded header sizes.
func (s *Server) httpServer(ctx context.Context, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}
