package ingress

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/audit"
	"github.com/gin-gonic/gin"
)

// clientResource is a client as the admin API shows it: never a secret or
// a hash.
type clientResource struct {
	ID               string            `json:"id"`
	Name             string            `json:"name,omitempty"`
	Roles            []string          `json:"roles"`
	Enabled          bool              `json:"enabled"`
	Grants           []string          `json:"grants"`
	CallbackPrefixes []string          `json:"callback_prefixes"`
	Webhooks         []catalog.Webhook `json:"webhooks"`
	Quota            *catalog.Quota    `json:"quota,omitempty"`
	Weight           int               `json:"weight"`
	MaxBacklog       int               `json:"max_backlog"`
	// MaxCallbackTargets is the client's bound on distinct Callback-URL
	// origins (defaulted).
	MaxCallbackTargets int      `json:"max_callback_targets"`
	ExternalIDs        []string `json:"external_ids,omitempty"`
	// PreviousSecretExpiresAt is when the last replaced secret stops
	// working, while a rotation overlap runs.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
	// Warnings, in the answers of create and patch, name what was accepted
	// but looks wrong: grants of flows that do not exist (yet).
	Warnings []string `json:"warnings,omitempty"`
}

// grantWarnings names the granted flows the catalog does not know. They
// are accepted (a flow may be deployed and discovered later), not silently.
func (s *Server) grantWarnings(grants []string) []string {
	var unknown []string
	for _, g := range grants {
		if _, ok := s.deps.Catalog.Flow(g); !ok {
			unknown = append(unknown, g)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	return []string{"granted flows that do not exist (yet): " + strings.Join(unknown, ", ")}
}

func newClientResource(c catalog.Client, now time.Time) clientResource {
	r := clientResource{
		ID: c.ID, Name: c.Name, Roles: nonNil(c.Roles), Enabled: c.Enabled, Grants: nonNil(c.Grants),
		CallbackPrefixes: nonNil(c.CallbackPrefixes), Webhooks: c.Webhooks, Quota: c.Quota,
		Weight: c.Weight, MaxBacklog: c.MaxBacklog, ExternalIDs: c.ExternalIDs,
		MaxCallbackTargets: c.CallbackTargets(),
	}
	if r.Webhooks == nil {
		r.Webhooks = []catalog.Webhook{}
	}
	for _, p := range c.PreviousSecrets {
		if now.Before(p.ExpiresAt) && (r.PreviousSecretExpiresAt == nil || p.ExpiresAt.After(*r.PreviousSecretExpiresAt)) {
			t := p.ExpiresAt
			r.PreviousSecretExpiresAt = &t
		}
	}
	return r
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// webhookInput is a webhook as written to the API: enabled defaults to true.
type webhookInput struct {
	ID             string   `json:"id"`
	URL            string   `json:"url"`
	Events         []string `json:"events"`
	Enabled        *bool    `json:"enabled"`
	DisabledReason string   `json:"disabled_reason"`
}

func webhooks(in []webhookInput) []catalog.Webhook {
	out := make([]catalog.Webhook, 0, len(in))
	for _, w := range in {
		out = append(out, catalog.Webhook{
			ID: w.ID, URL: w.URL, Events: w.Events, Enabled: w.Enabled == nil || *w.Enabled, DisabledReason: w.DisabledReason,
		})
	}
	return out
}

// clientInput is the body of POST /admin/v1/clients.
type clientInput struct {
	ID               string         `json:"id"`
	Name             string         `json:"name"`
	Roles            []string       `json:"roles"`
	Enabled          *bool          `json:"enabled"`
	Grants           []string       `json:"grants"`
	CallbackPrefixes []string       `json:"callback_prefixes"`
	Webhooks         []webhookInput `json:"webhooks"`
	Quota            *catalog.Quota `json:"quota"`
	Weight           int            `json:"weight"`
	MaxBacklog       int            `json:"max_backlog"`
	// MaxCallbackTargets bounds distinct Callback-URL origins; 0 = 20.
	MaxCallbackTargets int      `json:"max_callback_targets"`
	ExternalIDs        []string `json:"external_ids"`
}

// createdClient is the answer to a create: the only time the secrets are
// shown.
type createdClient struct {
	clientResource
	ClientSecret  string `json:"client_secret"`
	WebhookSecret string `json:"webhook_secret"`
}

// createClient is POST /admin/v1/clients.
func (s *Server) createClient(c *gin.Context) {
	var in clientInput
	if perr := readJSON(c, &in, false); perr != nil {
		writeProblem(c, perr)
		return
	}
	if !catalog.ValidID(in.ID) {
		writeProblem(c, problem(http.StatusBadRequest, "invalid_name", "client IDs match ^[a-z0-9][a-z0-9-]{0,62}$"))
		return
	}
	secret, whsec := catalog.NewClientSecret(), catalog.NewWebhookSecret()
	hash, err := catalog.HashSecret(secret)
	if err != nil {
		writeProblem(c, err)
		return
	}
	cl := catalog.Client{
		ID: in.ID, Name: in.Name, Roles: in.Roles, Enabled: in.Enabled == nil || *in.Enabled,
		Grants: in.Grants, CallbackPrefixes: in.CallbackPrefixes, Quota: in.Quota,
		Weight: in.Weight, MaxBacklog: in.MaxBacklog, ExternalIDs: in.ExternalIDs,
		MaxCallbackTargets: in.MaxCallbackTargets,
		SecretHashes:       []string{hash}, WebhookSecret: whsec,
	}
	if in.Webhooks != nil {
		cl.Webhooks = webhooks(in.Webhooks)
	}
	cl.SetDefaults()
	if err := cl.Validate(); err != nil {
		writeProblem(c, invalid(err))
		return
	}
	if perr := s.checkTargets(c, cl.Webhooks, cl.CallbackPrefixes); perr != nil {
		writeProblem(c, perr)
		return
	}
	if err := s.deps.Catalog.PutClient(c, cl, true); err != nil {
		writeProblem(c, err)
		return
	}
	s.auditAdmin(c, audit.ActionClientCreated, cl.ID, "")
	c.Header("Location", "/admin/v1/clients/"+cl.ID)
	c.Header("Cache-Control", "no-store")
	res := newClientResource(cl, s.cfg.Now())
	res.Warnings = s.grantWarnings(cl.Grants)
	writeJSON(c.Writer, http.StatusCreated, createdClient{
		clientResource: res, ClientSecret: secret, WebhookSecret: whsec,
	})
}

// listClients is GET /admin/v1/clients?limit=&cursor=<last id>.
func (s *Server) listClients(c *gin.Context) {
	limit, cursor, ok := pageParams(c)
	if !ok {
		return
	}
	now := s.cfg.Now()
	items := []clientResource{}
	next := ""
	for _, cl := range s.deps.Catalog.Clients() {
		if cl.ID <= cursor {
			continue
		}
		if len(items) == limit {
			next = items[len(items)-1].ID
			break
		}
		items = append(items, newClientResource(cl, now))
	}
	writeJSON(c.Writer, http.StatusOK, listPage[clientResource]{Items: items, NextCursor: next})
}

// listPage is the list shape of DESIGN 2.
type listPage[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// getClient is GET /admin/v1/clients/{id}.
func (s *Server) getClient(c *gin.Context) {
	id, ok := pathID(c)
	if !ok {
		return
	}
	cl, found := s.deps.Catalog.Client(id)
	if !found {
		writeProblem(c, catalog.ErrNotFound)
		return
	}
	writeJSON(c.Writer, http.StatusOK, newClientResource(cl, s.cfg.Now()))
}

// clientPatch is the body of PATCH: present fields replace, absent ones
// stay; "quota": null removes the quota.
type clientPatch struct {
	Name             *string         `json:"name"`
	Roles            *[]string       `json:"roles"`
	Enabled          *bool           `json:"enabled"`
	Grants           *[]string       `json:"grants"`
	CallbackPrefixes *[]string       `json:"callback_prefixes"`
	Webhooks         *[]webhookInput `json:"webhooks"`
	Quota            json.RawMessage `json:"quota"`
	Weight           *int            `json:"weight"`
	MaxBacklog       *int            `json:"max_backlog"`
	// MaxCallbackTargets bounds distinct Callback-URL origins; 0 = 20.
	MaxCallbackTargets *int      `json:"max_callback_targets"`
	ExternalIDs        *[]string `json:"external_ids"`
}

// apply changes cl and returns the names of the fields that were set.
func (p clientPatch) apply(cl *catalog.Client) ([]string, error) {
	var fields []string
	set := func(name string, present bool, do func()) {
		if present {
			do()
			fields = append(fields, name)
		}
	}
	set("name", p.Name != nil, func() { cl.Name = *p.Name })
	set("roles", p.Roles != nil, func() { cl.Roles = nonNil(*p.Roles) })
	set("enabled", p.Enabled != nil, func() { cl.Enabled = *p.Enabled })
	set("grants", p.Grants != nil, func() { cl.Grants = nonNil(*p.Grants) })
	set("callback_prefixes", p.CallbackPrefixes != nil, func() { cl.CallbackPrefixes = nonNil(*p.CallbackPrefixes) })
	set("webhooks", p.Webhooks != nil, func() { cl.Webhooks = webhooks(*p.Webhooks) })
	set("weight", p.Weight != nil, func() { cl.Weight = *p.Weight })
	set("max_backlog", p.MaxBacklog != nil, func() { cl.MaxBacklog = *p.MaxBacklog })
	set("max_callback_targets", p.MaxCallbackTargets != nil, func() { cl.MaxCallbackTargets = *p.MaxCallbackTargets })
	set("external_ids", p.ExternalIDs != nil, func() { cl.ExternalIDs = *p.ExternalIDs })
	if p.Quota != nil {
		fields = append(fields, "quota")
		if string(p.Quota) == "null" {
			cl.Quota = nil
		} else {
			var q catalog.Quota
			if err := catalog.DecodeStrict(p.Quota, &q); err != nil {
				return nil, errors.New("quota: " + err.Error())
			}
			cl.Quota = &q
		}
	}
	if p.Weight != nil && *p.Weight == 0 {
		cl.Weight = catalog.DefaultWeight
	}
	return fields, nil
}

// patchClient is PATCH /admin/v1/clients/{id}.
func (s *Server) patchClient(c *gin.Context) {
	id, ok := pathID(c)
	if !ok {
		return
	}
	var p clientPatch
	if perr := readJSON(c, &p, false); perr != nil {
		writeProblem(c, perr)
		return
	}
	var hooks []catalog.Webhook
	var prefixes []string
	if p.Webhooks != nil {
		hooks = webhooks(*p.Webhooks)
	}
	if p.CallbackPrefixes != nil {
		prefixes = *p.CallbackPrefixes
	}
	if perr := s.checkTargets(c, hooks, prefixes); perr != nil {
		writeProblem(c, perr)
		return
	}
	var fields []string
	cl, err := s.deps.Catalog.UpdateClient(c, id, func(cl *catalog.Client) error {
		var err error
		fields, err = p.apply(cl)
		return err
	})
	if err != nil {
		writeProblem(c, err)
		return
	}
	s.auditAdmin(c, audit.ActionClientUpdated, id, "fields="+joinFields(fields))
	res := newClientResource(cl, s.cfg.Now())
	res.Warnings = s.grantWarnings(cl.Grants)
	writeJSON(c.Writer, http.StatusOK, res)
}

// deleteClient is DELETE /admin/v1/clients/{id}: 204. Its tokens stop
// working on every ingress within moments, and the ID stays retired (a
// create answers 409 client_id_retired) until the old client's data has
// aged out (Config.ClientRetirement).
func (s *Server) deleteClient(c *gin.Context) {
	id, ok := pathID(c)
	if !ok {
		return
	}
	if err := s.deps.Catalog.DeleteClient(c, id, s.cfg.Now().Add(s.cfg.ClientRetirement())); err != nil {
		writeProblem(c, err)
		return
	}
	s.auditAdmin(c, audit.ActionClientDeleted, id, "")
	c.Status(http.StatusNoContent)
}

func joinFields(f []string) string {
	slices.Sort(f)
	out := ""
	for i, s := range f {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}

// auditAdmin records a successful admin change by the caller.
func (s *Server) auditAdmin(c *gin.Context, action, target, detail string) {
	cl := callerOf(c)
	s.deps.Audit.Record(audit.Event{
		Actor: cl.client.ID, Action: action, Target: target, Source: cl.source,
		Outcome: audit.OutcomeSuccess, Detail: detail,
	})
}
