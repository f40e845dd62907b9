package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cpibroker/cpibroker/internal/webui"
)

//go:embed pages/*.html
var pageFS embed.FS

// Base is where the console is mounted.
const Base = "/console"

// Console is the operator console. New builds it; Handler mounts it over
// the API; Run samples the metrics for the overview charts.
type Console struct {
	cfg      Config
	api      atomic.Pointer[webui.API]
	sessions *webui.Sessions
	render   *webui.Renderer
	gate     *webui.Gate
	hist     *history
	mux      *http.ServeMux
	// opened is closed by the first request: sampling starts then, so a
	// process whose console nobody opens never scrapes its own /metrics
	// (a scrape refreshes caches such as the backlog gauges').
	opened   chan struct{}
	openOnce sync.Once
	// runs are the discoveries started from the console, by provider.
	runsMu sync.Mutex
	runs   map[string]*discoverRun
}

// New builds the console.
func New(cfg Config) (*Console, error) {
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
	c := &Console{cfg: cfg, render: r, hist: &history{keep: cfg.Window}, opened: make(chan struct{}), runs: map[string]*discoverRun{},
		sessions: webui.NewSessions("cpib_console", Base, cfg.MaxSessions, cfg.Now)}
	c.gate = &webui.Gate{App: "Console", Base: Base, API: &c.api, Sessions: c.sessions, Render: r,
		MaxForm: 1 << 20, Admit: adminOnly}
	c.routes()
	return c, nil
}

// Handler returns the console over api, the handler that serves
// /oauth/token, /admin/v1 and /metrics (the admin listener's, or the only
// listener's). The ingress calls it when it mounts /console.
func (c *Console) Handler(api http.Handler) http.Handler {
	c.api.Store(&webui.API{H: api})
	h := webui.Secure(c.mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.openOnce.Do(func() { close(c.opened) })
		h.ServeHTTP(w, r)
	})
}

// Run samples the metrics every SampleEvery for the overview charts until
// ctx ends, from the first time the console is opened.
func (c *Console) Run(ctx context.Context) error {
	select {
	case <-c.opened:
	case <-ctx.Done():
		return nil
	}
	t := time.NewTicker(c.cfg.SampleEvery)
	defer t.Stop()
	for {
		c.sample(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (c *Console) sample(ctx context.Context) {
	api := c.api.Load()
	if api == nil {
		return
	}
	if s, err := scrape(ctx, api.H, c.cfg.Now()); err == nil {
		c.hist.add(s)
	}
}

// call is one API call of a signed-in page.
func (c *Console) call(r *http.Request, s *webui.Session, method, path string, body any) webui.Response {
	return c.api.Load().JSON(r, s.Token, method, path, body)
}

type handler = webui.Handler

// signedIn wraps a page: without a live session it goes to sign-in; a
// state-changing request must carry the session's CSRF token and come
// from this origin.
func (c *Console) signedIn(h handler) http.HandlerFunc { return c.gate.SignedIn(h) }

var nav = []struct{ path, label string }{
	{"/", "Overview"}, {"/providers", "Providers"}, {"/flows", "Flows"}, {"/clients", "Clients"},
	{"/jobs", "Jobs"}, {"/dlq", "DLQ"}, {"/breakers", "Breakers"}, {"/audit", "Audit"},
}

// page renders a signed-in page.
func (c *Console) page(w http.ResponseWriter, r *http.Request, s *webui.Session, status int, name, title string, data any, errMsg string) {
	p := webui.Page{App: "Console", Base: Base, Title: title, Client: s.Client, CSRF: s.CSRF,
		Flash: s.TakeFlash(), Error: errMsg, Data: data}
	section := "/" + strings.SplitN(strings.TrimPrefix(r.URL.Path, Base+"/"), "/", 2)[0]
	for _, n := range nav {
		p.Nav = append(p.Nav, webui.Nav{Href: Base + n.path, Label: n.label, Current: section == n.path})
	}
	if status == 0 {
		status = http.StatusOK
		if errMsg != "" {
			status = http.StatusBadRequest
		}
	}
	if rf, ok := data.(interface{ refresh() int }); ok {
		p.Refresh = rf.refresh()
	}
	c.render.Render(w, status, name, p)
}

// back redirects to the referring console page (or to) with a notice.
func back(w http.ResponseWriter, r *http.Request, s *webui.Session, to, flash string) {
	if flash != "" {
		s.Flash(flash)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// expired handles an API 401: the token ended or was revoked.
func (c *Console) expired(w http.ResponseWriter, r *http.Request, resp webui.Response) bool {
	if resp.Status != http.StatusUnauthorized {
		return false
	}
	c.sessions.End(w, r)
	http.Redirect(w, r, Base+"/signin", http.StatusSeeOther)
	return true
}

func (c *Console) routes() {
	m := http.NewServeMux()
	m.Handle("GET "+Base+"/static/", webui.Static(Base+"/static/"))
	m.HandleFunc("GET "+Base+"/signin", c.gate.SignInPage)
	m.HandleFunc("POST "+Base+"/signin", c.gate.SignIn)
	m.HandleFunc("POST "+Base+"/signout", c.signedIn(func(w http.ResponseWriter, r *http.Request, _ *webui.Session) {
		c.sessions.End(w, r)
		http.Redirect(w, r, Base+"/signin", http.StatusSeeOther)
	}))
	m.HandleFunc("GET "+Base+"/{$}", c.signedIn(c.overview))
	m.HandleFunc("GET "+Base+"/providers", c.signedIn(c.providers))
	m.HandleFunc("POST "+Base+"/providers/{id}/test", c.signedIn(c.providerTest))
	m.HandleFunc("POST "+Base+"/providers/{id}/discover", c.signedIn(c.providerDiscover))
	m.HandleFunc("GET "+Base+"/providers/{id}/discovery", c.signedIn(c.providerDiscovery))
	m.HandleFunc("GET "+Base+"/flows", c.signedIn(c.flows))
	m.HandleFunc("GET "+Base+"/flows/{id}", c.signedIn(c.flow))
	m.HandleFunc("POST "+Base+"/flows/{id}", c.signedIn(c.flowPolicy))
	m.HandleFunc("POST "+Base+"/flows/{id}/status", c.signedIn(c.flowStatus))
	m.HandleFunc("GET "+Base+"/clients", c.signedIn(c.clients))
	m.HandleFunc("POST "+Base+"/clients", c.signedIn(c.clientCreate))
	m.HandleFunc("GET "+Base+"/clients/{id}", c.signedIn(c.client))
	m.HandleFunc("POST "+Base+"/clients/{id}", c.signedIn(c.clientPatch))
	m.HandleFunc("POST "+Base+"/clients/{id}/rotate", c.signedIn(c.clientRotate))
	m.HandleFunc("POST "+Base+"/clients/{id}/delete", c.signedIn(c.clientDelete))
	m.HandleFunc("GET "+Base+"/jobs", c.signedIn(c.jobs))
	m.HandleFunc("GET "+Base+"/jobs/{id}", c.signedIn(c.job))
	m.HandleFunc("POST "+Base+"/jobs/{id}/resend", c.signedIn(c.jobResend))
	m.HandleFunc("GET "+Base+"/dlq", c.signedIn(c.dlq))
	m.HandleFunc("POST "+Base+"/dlq/replay", c.signedIn(c.dlqReplay))
	m.HandleFunc("GET "+Base+"/dlq/progress", c.signedIn(c.dlqProgress))
	m.HandleFunc("GET "+Base+"/breakers", c.signedIn(c.breakers))
	m.HandleFunc("POST "+Base+"/breakers/{id}/reset", c.signedIn(c.breakerReset))
	m.HandleFunc("GET "+Base+"/audit", c.signedIn(c.audit))
	m.HandleFunc(Base+"/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such page", http.StatusNotFound)
	})
	c.mux = m
}

// adminOnly refuses a sign-in whose client has no admin role.
func adminOnly(r *http.Request, api *webui.API, tok webui.Token) string {
	if resp := api.Do(r, tok.AccessToken, http.MethodGet, "/admin/v1/flows?limit=1", nil, ""); resp.Status == http.StatusForbidden {
		return "This client has no admin role; the console is for operators."
	}
	return ""
}

// list reads {"items":[...]} from an admin listing.
func (c *Console) list(w http.ResponseWriter, r *http.Request, s *webui.Session, path string) ([]map[string]any, string, bool) {
	resp := c.call(r, s, http.MethodGet, path, nil)
	if c.expired(w, r, resp) {
		return nil, "", false
	}
	if !resp.OK() {
		return nil, resp.Problem(), true
	}
	var page struct {
		Items []map[string]any `json:"items"`
	}
	if err := resp.Decode(&page); err != nil {
		return nil, err.Error(), true
	}
	return page.Items, "", true
}

// query builds "?k=v&…" from the non-empty form values named.
func query(r *http.Request, names ...string) string {
	v := url.Values{}
	for _, n := range names {
		if x := strings.TrimSpace(r.FormValue(n)); x != "" {
			v.Set(n, x)
		}
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// fields splits a list typed as comma- or space-separated words.
func fields(v string) []string {
	out := []string{}
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
		out = append(out, f)
	}
	return out
}

// raw is a textarea's JSON, or nil when left empty.
func raw(v string) (json.RawMessage, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	if !json.Valid([]byte(v)) {
		return nil, errors.New("not valid JSON")
	}
	return json.RawMessage(v), nil
}
