package webui

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed layout.html static
var shared embed.FS

// Static serves the shared stylesheet and script under prefix (for example
// "/console/static/").
func Static(prefix string) http.Handler {
	sub, _ := fs.Sub(shared, "static")
	fsrv := http.StripPrefix(prefix, http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		fsrv.ServeHTTP(w, r)
	})
}

// Nav is one entry of the navigation bar.
type Nav struct {
	Href, Label string
	Current     bool
}

// Page is what every template gets.
type Page struct {
	// App is "Console" or "Portal"; Base its path ("/console").
	App, Base string
	Title     string
	Nav       []Nav
	// Client is the signed-in client ("" on the sign-in page); CSRF the
	// session's form token.
	Client, CSRF string
	// Flash is a one-time notice; Error what went wrong.
	Flash, Error string
	// Refresh, when positive, reloads the page after that many seconds
	// (a job or replay in progress), with a meta tag, not a script.
	Refresh int
	// Data is the page's own data.
	Data any
}

// Renderer renders the pages of one app.
type Renderer struct {
	pages map[string]*template.Template
	log   *slog.Logger
}

// Funcs are the template helpers.
var Funcs = template.FuncMap{
	"json": func(v any) string {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return ""
		}
		return string(b)
	},
	"join": strings.Join,
	"list": func(v ...string) []string { return v },
	"since": func(ts string) string {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return ts
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"spark":  Sparkline,
	"ms":     func(f float64) string { return fmt.Sprintf("%.1f ms", f) },
	"status": StatusClass,
}

// StatusClass names the CSS class of a job or breaker state.
func StatusClass(s string) string {
	switch s {
	case "succeeded", "delivered", "closed", "enabled", "ok", "healthy":
		return "good"
	case "failed", "open", "gone", "rejected", "refused", "unavailable", "error", "provider_auth":
		return "bad"
	}
	return "neutral"
}

// NewRenderer parses every *.html page of pages with the shared layout.
func NewRenderer(pages fs.FS, log *slog.Logger) (*Renderer, error) {
	base, err := template.New("layout.html").Funcs(Funcs).ParseFS(shared, "layout.html")
	if err != nil {
		return nil, fmt.Errorf("webui: layout: %w", err)
	}
	names, err := fs.Glob(pages, "*.html")
	if err != nil {
		return nil, err
	}
	r := &Renderer{pages: map[string]*template.Template{}, log: log}
	for _, n := range names {
		t, err := template.Must(base.Clone()).ParseFS(pages, n)
		if err != nil {
			return nil, fmt.Errorf("webui: page %s: %w", n, err)
		}
		r.pages[strings.TrimSuffix(path.Base(n), ".html")] = t
	}
	return r, nil
}

// Render writes page name with p, status 200 unless p.Error is set for a
// refused form (then 400 or the given status).
func (r *Renderer) Render(w http.ResponseWriter, status int, name string, p Page) {
	t, ok := r.pages[name]
	if !ok {
		http.Error(w, "no such page", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		r.log.Error("webui: render", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
