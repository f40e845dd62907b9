package portal

import (
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/cpibroker/cpibroker/internal/webui"
)

//go:embed pages/*.html
var pageFS embed.FS

// Base is where the portal is mounted.
const Base = "/portal"

// Config tunes the portal. Zero values take the documented defaults.
type Config struct {
	// PublicURL is the base URL partners use, shown in the snippets.
	// Default: the URL the page was asked for.
	PublicURL string
	// MaxSessions bounds the signed-in browsers kept. Default 10 000.
	MaxSessions int
	// MaxTryBody bounds a "try it" payload. Default 256 KiB.
	MaxTryBody int64
	// Now is the clock; Logger logs render failures.
	Now    func() time.Time
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.MaxSessions == 0 {
		c.MaxSessions = 10_000
	}
	if c.MaxTryBody == 0 {
		c.MaxTryBody = 256 << 10
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports an impossible setting.
func (c *Config) Validate() error {
	if c.MaxSessions < 1 || c.MaxTryBody < 1 {
		return errors.New("portal: max sessions and max try body must be positive")
	}
	return nil
}

// Portal is the partner portal.
type Portal struct {
	cfg      Config
	api      atomic.Pointer[webui.API]
	sessions *webui.Sessions
	render   *webui.Renderer
	gate     *webui.Gate
	mux      *http.ServeMux
}

// New builds the portal.
func New(cfg Config) (*Portal, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sub, err := fs.Sub(pageFS, "pages")
	if err != nil {
		return nil, err
	}
	r, err := webui.NewRenderer(sub, cfg.Logger)
	if err != nil {
		return nil, err
	}
	p := &Portal{cfg: cfg, render: r, sessions: webui.NewSessions("cpib_portal", Base, cfg.MaxSessions, cfg.Now)}
	p.gate = &webui.Gate{App: "Portal", Base: Base, API: &p.api, Sessions: p.sessions, Render: r,
		MaxForm: cfg.MaxTryBody + 64<<10}
	p.routes()
	return p, nil
}

// Handler returns the portal over api, the partner listener's handler
// (/oauth/token and /v1). The ingress calls it when it mounts /portal.
func (p *Portal) Handler(api http.Handler) http.Handler {
	p.api.Store(&webui.API{H: api})
	return webui.Secure(p.mux)
}
