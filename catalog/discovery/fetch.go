package discovery

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/catalog/odata"
	"github.com/cpibroker/cpibroker/internal/cpitoken"
	"golang.org/x/time/rate"
)

// endpoint is one callable entry point as the provider serves it.
type endpoint struct {
	Artifact    string
	Address     string
	URL         string
	Title       string
	Description string
	Protocol    string
	// ID is the declared ID of a "http" provider's flow; "" when discovered.
	ID string
}

// key identifies an entry point within a provider: artifact and address
// (addresses are case-insensitive in CPI).
func (e endpoint) key() string { return e.Artifact + "\x00" + strings.ToLower(e.Address) }

// callable reports the protocols whose entry points take a POSTed
// payload: the HTTPS adapter (REST) and SOAP. OData services (ODATAV2)
// are entity sets, not one operation, and AS2/AS4 are B2B protocols with
// their own envelopes: they are skipped.
func callable(protocol string) bool {
	return strings.EqualFold(protocol, "REST") || strings.EqualFold(protocol, "SOAP")
}

// authClient returns an HTTP client that authenticates with e's OAuth
// client credentials (secret references resolved), sent the way the
// provider's token_auth says, or plain base when e has no token URL.
func (r *Runner) authClient(ctx context.Context, p catalog.Provider, e catalog.Endpoint) (*http.Client, error) {
	e, err := e.Resolved(r.cfg.Secrets)
	if err != nil {
		return nil, err
	}
	if e.TokenURL == "" {
		return r.cfg.HTTP, nil
	}
	return r.tokenSource(p, e).Client(ctx, r.cfg.HTTP), nil
}

// tokenSource is the one token source for e (resolved) of p.
func (r *Runner) tokenSource(p catalog.Provider, e catalog.Endpoint) *cpitoken.Source {
	return cpitoken.New(cpitoken.Config{
		TokenURL: e.TokenURL, ClientID: e.ClientID, ClientSecret: e.ClientSecret,
		Auth: p.TokenAuthMode(), HTTP: r.cfg.HTTP, Memory: r.cfg.TokenMemory, Log: r.cfg.Log.With("provider", p.ID),
	})
}

// paceBurst is how many API reads may go out back to back before the pace
// applies: a small tenant (a page of artifacts, a page of endpoints) is
// read at once, a large one at RequestsPerSecond.
const paceBurst = 4

// apiRoot is the OData service root of an api url, with or without the
// /api/v1 suffix pasted.
func apiRoot(u string) string {
	u = strings.TrimSuffix(u, "/")
	if strings.HasSuffix(u, "/api/v1") {
		return u
	}
	return u + "/api/v1"
}

// fetchCPI reads a tenant's started artifacts and service endpoints. It
// returns the callable entry points and how many endpoints were skipped.
func (r *Runner) fetchCPI(ctx context.Context, p catalog.Provider, prog *progress) ([]endpoint, int, error) {
	hc, err := r.authClient(ctx, p, *p.API)
	if err != nil {
		return nil, 0, fmt.Errorf("api credentials: %w", err)
	}
	c := &odata.Client{
		HTTP: hc, Root: apiRoot(p.API.URL), BackoffBase: r.cfg.BackoffBase, BackoffCap: r.cfg.BackoffCap,
		Sleep: r.cfg.Sleep, Log: r.cfg.Log.With("provider", p.ID),
		// A new pace per run: 429s slow this run down, the next starts
		// at the configured pace again.
		Limiter: rate.NewLimiter(rate.Limit(r.cfg.RequestsPerSecond), paceBurst),
	}
	c.Page = func(int) { prog.page(ctx) }
	started := map[string]bool{}
	if err := c.GetAll(ctx, "IntegrationRuntimeArtifacts", func(raw json.RawMessage) error {
		var a odata.RuntimeArtifact
		if err := json.Unmarshal(raw, &a); err != nil {
			return fmt.Errorf("IntegrationRuntimeArtifacts: %w", err)
		}
		started[a.ID] = a.Status == "" || strings.EqualFold(a.Status, "STARTED")
		prog.artifact()
		return nil
	}); err != nil {
		return nil, 0, err
	}
	var out []endpoint
	skipped := 0
	if err := c.GetAll(ctx, "ServiceEndpoints?$expand=EntryPoints", func(raw json.RawMessage) error {
		var se odata.ServiceEndpoint
		if err := json.Unmarshal(raw, &se); err != nil {
			return fmt.Errorf("ServiceEndpoints: %w", err)
		}
		prog.entryPoint()
		u := entryURL(se)
		if !callable(se.Protocol) || u == "" {
			skipped++
			return nil
		}
		if !started[se.Name] {
			return nil // not (or not successfully) deployed: unavailable
		}
		addr := se.Address()
		if addr == "" {
			addr = addressOf(u)
		}
		title := se.Title
		if title == "" {
			title = se.Name
		}
		desc := se.Description
		if desc == "" {
			desc = se.Summary
		}
		out = append(out, endpoint{
			Artifact: se.Name, Address: addr, URL: u, Title: title, Description: desc,
			Protocol: strings.ToUpper(se.Protocol),
		})
		return nil
	}); err != nil {
		return nil, 0, err
	}
	return out, skipped, nil
}

// entryURL is the first http(s) entry point URL of an endpoint.
func entryURL(se odata.ServiceEndpoint) string {
	for _, ep := range se.EntryPoints.Results {
		if u, err := url.Parse(ep.URL); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
			return ep.URL
		}
	}
	return ""
}

// addressOf derives an address from an entry point URL: its path without
// the protocol prefix.
func addressOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	for _, prefix := range []string{"/http", "/cxf", "/gw/odata"} {
		if rest, ok := strings.CutPrefix(u.Path, prefix); ok && strings.HasPrefix(rest, "/") {
			return rest
		}
	}
	return u.Path
}

// declared returns the declared flows of a "http" provider as entry points.
func declared(p catalog.Provider) []endpoint {
	base := strings.TrimSuffix(p.Runtime.URL, "/")
	out := make([]endpoint, 0, len(p.Flows))
	for _, f := range p.Flows {
		title := f.Title
		if title == "" {
			title = f.ID
		}
		out = append(out, endpoint{
			Artifact: f.ID, Address: f.Path, URL: base + f.Path, Title: title, Description: f.Description,
			Protocol: "REST", ID: f.ID,
		})
	}
	return out
}
