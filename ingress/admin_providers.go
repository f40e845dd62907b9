package ingress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/catalog/discovery"
	"github.com/cpibroker/cpibroker/internal/audit"
	"github.com/gin-gonic/gin"
)

// Discoverer is what the admin API needs of provider discovery
// (catalog/discovery.Runner).
type Discoverer interface {
	Discover(ctx context.Context, provider string) (discovery.Result, error)
	Last(ctx context.Context, provider string) (discovery.Result, error)
	Running(ctx context.Context, provider string) (discovery.Progress, error)
	Test(ctx context.Context, p catalog.Provider) discovery.Report
}

// discoverTimeout bounds a synchronous discovery through the API.
const discoverTimeout = 2 * time.Minute

func (s *Server) providerRoutes(g *gin.RouterGroup) {
	g.POST("/providers", s.createProvider)
	g.GET("/providers", s.listProviders)
	g.GET("/providers/:id", s.getProvider)
	g.PATCH("/providers/:id", s.patchProvider)
	g.DELETE("/providers/:id", s.deleteProvider)
	g.POST("/providers/:id/test", s.testProvider)
	g.POST("/providers/:id/discover", s.discoverProvider)
}

// providerResource is a provider as the admin API shows it: secrets are
// "***", and the outcome of the last discovery is attached.
type providerResource struct {
	catalog.Provider
	// Health says, per credential set, whether CPI accepted it at the last
	// call, since when, and why not.
	Health    *catalog.ProviderHealth `json:"health,omitempty"`
	Discovery *discovery.Result       `json:"last_discovery,omitempty"`
	// Discovering is there while a discovery of the provider runs (in any
	// process): {"running": {pages, artifacts, entry_points, started_at, …}}.
	Discovering *discoveryState `json:"discovery,omitempty"`
}

// discoveryState is the discovery now running.
type discoveryState struct {
	Running discovery.Progress `json:"running"`
}

func (s *Server) providerResource(c *gin.Context, p catalog.Provider, withDiscovery bool) providerResource {
	r := providerResource{Provider: p.Redact(), Health: s.deps.Catalog.ProviderHealth(p.ID)}
	if withDiscovery && s.deps.Discovery != nil {
		if last, err := s.deps.Discovery.Last(c, p.ID); err == nil {
			r.Discovery = &last
		}
		if run, err := s.deps.Discovery.Running(c, p.ID); err == nil {
			r.Discovering = &discoveryState{Running: run}
		}
	}
	return r
}

// createProvider is POST /admin/v1/providers: 201 with the provider
// (secrets "***"); "csrf" defaults to true. Flows appear with the first discovery, which every
// process with the dispatcher role starts within moments (or POST
// …/discover).
func (s *Server) createProvider(c *gin.Context) {
	// CSRF: CPI's default for HTTPS senders; token_auth: SAP's own clients.
	p := catalog.NewProvider() // the same defaults as a --config seed
	if perr := readJSON(c, &p, false); perr != nil {
		writeProblem(c, perr)
		return
	}
	if !catalog.ValidID(p.ID) {
		writeProblem(c, problem(http.StatusBadRequest, "invalid_name", "provider IDs match ^[a-z0-9][a-z0-9-]{0,62}$"))
		return
	}
	if err := p.Validate(); err != nil {
		writeProblem(c, invalid(err))
		return
	}
	if err := p.CheckSecretRefs(s.cfg.Secrets); err != nil {
		writeProblem(c, invalid(err))
		return
	}
	if err := s.deps.Catalog.PutProvider(c, p, true); err != nil {
		writeProblem(c, err)
		return
	}
	s.auditAdmin(c, audit.ActionProviderCreated, p.ID, "type="+p.Type)
	c.Header("Location", "/admin/v1/providers/"+p.ID)
	writeJSON(c.Writer, http.StatusCreated, s.providerResource(c, p, false))
}

// listProviders is GET /admin/v1/providers?limit=&cursor=<last id>.
func (s *Server) listProviders(c *gin.Context) {
	limit, cursor, ok := pageParams(c)
	if !ok {
		return
	}
	items := []providerResource{}
	next := ""
	for _, p := range s.deps.Catalog.Providers() {
		if p.ID <= cursor {
			continue
		}
		if len(items) == limit {
			next = items[len(items)-1].ID
			break
		}
		items = append(items, s.providerResource(c, p, false))
	}
	writeJSON(c.Writer, http.StatusOK, listPage[providerResource]{Items: items, NextCursor: next})
}

// getProvider is GET /admin/v1/providers/{id}, with the last discovery.
func (s *Server) getProvider(c *gin.Context) {
	p, ok := s.pathProvider(c)
	if !ok {
		return
	}
	writeJSON(c.Writer, http.StatusOK, s.providerResource(c, p, true))
}

func (s *Server) pathProvider(c *gin.Context) (catalog.Provider, bool) {
	id, ok := pathID(c)
	if !ok {
		return catalog.Provider{}, false
	}
	p, found := s.deps.Catalog.Provider(id)
	if !found {
		writeProblem(c, catalog.ErrNotFound)
		return catalog.Provider{}, false
	}
	return p, true
}

// endpointPatch changes some fields of an endpoint; a "clientsecret" of
// "***" (as read back) keeps the current one.
type endpointPatch struct {
	URL          *string `json:"url"`
	TokenURL     *string `json:"tokenurl"`
	ClientID     *string `json:"clientid"`
	ClientSecret *string `json:"clientsecret"`
}

func (p endpointPatch) apply(e *catalog.Endpoint) {
	for _, f := range []struct {
		src *string
		dst *string
	}{{p.URL, &e.URL}, {p.TokenURL, &e.TokenURL}, {p.ClientID, &e.ClientID}, {p.ClientSecret, &e.ClientSecret}} {
		if f.src != nil && *f.src != catalog.Redacted {
			*f.dst = *f.src
		}
	}
}

// providerPatch is the body of PATCH: present fields replace, absent ones
// stay; "api": null removes the API endpoint.
type providerPatch struct {
	Title             *string                 `json:"title"`
	Runtime           *endpointPatch          `json:"runtime"`
	API               *endpointPatch          `json:"api"`
	RemoveAPI         bool                    `json:"-"`
	CSRF              *bool                   `json:"csrf"`
	TokenAuth         *string                 `json:"token_auth"`
	DiscoveryInterval *catalog.Duration       `json:"discovery_interval"`
	AutoEnable        *bool                   `json:"auto_enable"`
	Flows             *[]catalog.DeclaredFlow `json:"flows"`
}

// suppliesSecret reports, per endpoint, whether the patch gives a new
// client secret ("***" keeps the stored one, so it does not count).
func (pp providerPatch) suppliesSecret() map[string]bool {
	given := func(e *endpointPatch) bool {
		return e != nil && e.ClientSecret != nil && *e.ClientSecret != catalog.Redacted
	}
	return map[string]bool{"runtime": given(pp.Runtime), "api": given(pp.API)}
}

func (pp providerPatch) apply(p *catalog.Provider) []string {
	var fields []string
	set := func(name string, present bool, do func()) {
		if present {
			do()
			fields = append(fields, name)
		}
	}
	set("title", pp.Title != nil, func() { p.Title = *pp.Title })
	set("runtime", pp.Runtime != nil, func() { pp.Runtime.apply(&p.Runtime) })
	set("api", pp.API != nil, func() {
		e := catalog.Endpoint{}
		if p.API != nil {
			e = *p.API
		}
		pp.API.apply(&e)
		p.API = &e
	})
	set("api", pp.RemoveAPI, func() { p.API = nil })
	set("csrf", pp.CSRF != nil, func() { p.CSRF = *pp.CSRF })
	set("token_auth", pp.TokenAuth != nil, func() { p.TokenAuth = *pp.TokenAuth })
	set("discovery_interval", pp.DiscoveryInterval != nil, func() { p.DiscoveryInterval = *pp.DiscoveryInterval })
	set("auto_enable", pp.AutoEnable != nil, func() { p.AutoEnable = *pp.AutoEnable })
	set("flows", pp.Flows != nil, func() { p.Flows = *pp.Flows })
	return fields
}

// patchProvider is PATCH /admin/v1/providers/{id}. A change of
// credentials or URLs is picked up by every dispatcher at its next call,
// and the provider is discovered again within moments.
func (s *Server) patchProvider(c *gin.Context) {
	id, ok := pathID(c)
	if !ok {
		return
	}
	var raw map[string]rawJSON
	if perr := readJSON(c, &raw, false); perr != nil {
		writeProblem(c, perr)
		return
	}
	var pp providerPatch
	if v, ok := raw["api"]; ok && string(v) == "null" {
		pp.RemoveAPI = true
		delete(raw, "api")
	}
	if err := decodeRaw(raw, &pp); err != nil {
		writeProblem(c, invalid(err))
		return
	}
	var fields []string
	p, err := s.deps.Catalog.UpdateProvider(c, id, func(p *catalog.Provider) error {
		cur := *p
		if p.API != nil {
			api := *p.API
			cur.API = &api
		}
		fields = pp.apply(p)
		if err := catalog.CheckSecretTargets(cur, *p, pp.suppliesSecret()); err != nil {
			return err
		}
		return p.CheckSecretRefs(s.cfg.Secrets)
	})
	if err != nil {
		writeProblem(c, err)
		return
	}
	s.auditAdmin(c, audit.ActionProviderUpdated, id, "fields="+joinFields(fields))
	writeJSON(c.Writer, http.StatusOK, s.providerResource(c, p, true))
}

// deleteProvider is DELETE /admin/v1/providers/{id}: 204. Its flows stay,
// unavailable (with their status and policy kept): a provider created
// again under the same ID brings them back at its first discovery.
func (s *Server) deleteProvider(c *gin.Context) {
	id, ok := pathID(c)
	if !ok {
		return
	}
	if err := s.deps.Catalog.DeleteProvider(c, id); err != nil {
		writeProblem(c, err)
		return
	}
	if _, err := s.deps.Catalog.RetireProviderFlows(c, id, nil); err != nil {
		writeProblem(c, err)
		return
	}
	s.auditAdmin(c, audit.ActionProviderDeleted, id, "")
	c.Status(http.StatusNoContent)
}

// hasDiscovery answers 503 when this process has no discovery runner.
func (s *Server) hasDiscovery(c *gin.Context) bool {
	if s.deps.Discovery == nil {
		writeProblem(c, problem(http.StatusServiceUnavailable, "unavailable", "discovery is not running in this process"))
		return false
	}
	return true
}

// testProvider is POST /admin/v1/providers/{id}/test: Test Connection. It
// answers 200 with a report (ok false and the failed step in plain words
// when something is wrong): the broker worked, the provider did not.
func (s *Server) testProvider(c *gin.Context) {
	p, ok := s.pathProvider(c)
	if !ok {
		return
	}
	if !s.hasDiscovery(c) {
		return
	}
	writeJSON(c.Writer, http.StatusOK, s.deps.Discovery.Test(c, p))
}

// discoverProvider is POST /admin/v1/providers/{id}/discover: discover
// now (waiting for a discovery running elsewhere to end first) and answer
// the outcome: 200 with ok and the counts, or ok false and the error when
// the tenant could not be read.
func (s *Server) discoverProvider(c *gin.Context) {
	p, ok := s.pathProvider(c)
	if !ok {
		return
	}
	if !s.hasDiscovery(c) {
		return
	}
	ctx, cancel := context.WithTimeout(c, discoverTimeout)
	defer cancel()
	res, err := s.deps.Discovery.Discover(ctx, p.ID)
	switch {
	case errors.Is(err, discovery.ErrNotDiscoverable):
		writeProblem(c, problem(http.StatusConflict, "invalid_request", err.Error()))
		return
	case errors.Is(err, discovery.ErrBusy):
		writeProblem(c, &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "another discovery of this provider is still running", RetryAfter: 5})
		return
	case err != nil && res.Provider == "":
		writeProblem(c, err)
		return
	}
	s.auditAdmin(c, audit.ActionProviderDiscovered, p.ID, fmt.Sprintf("ok=%v added=%d updated=%d unavailable=%d", res.OK, res.Added, res.Updated, res.Unavailable))
	writeJSON(c.Writer, http.StatusOK, res)
}

// rawJSON is an undecoded member of a PATCH body.
type rawJSON = json.RawMessage

// decodeRaw decodes the members of a PATCH body strictly into v.
func decodeRaw(raw map[string]rawJSON, v any) error {
	b, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	return catalog.DecodeStrict(b, v)
}
