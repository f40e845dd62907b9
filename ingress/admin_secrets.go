package ingress

import (
	"net/http"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/audit"
	"github.com/gin-gonic/gin"
)

const (
	// defaultOverlap is how long a replaced secret keeps working.
	defaultOverlap = 24 * time.Hour
	// maxOverlap bounds the overlap.
	maxOverlap = 30 * 24 * time.Hour
)

// rotateInput is the optional body of the rotate calls.
type rotateInput struct {
	// Overlap is how long the old secret keeps working ("0s" = not at all);
	// parsed by overlap, so a bad value is named as the overlap.
	Overlap *string `json:"overlap"`
}

// overlap reads the overlap from ?overlap= or the body; default 24h.
func overlap(c *gin.Context) (time.Duration, *apiError) {
	var in rotateInput
	if perr := readJSON(c, &in, true); perr != nil {
		return 0, perr
	}
	d := defaultOverlap
	if in.Overlap != nil {
		var err error
		if d, err = time.ParseDuration(*in.Overlap); err != nil {
			return 0, problem(http.StatusBadRequest, "invalid_request", "overlap must be a duration like 24h")
		}
	}
	if v := c.Query("overlap"); v != "" {
		q, err := time.ParseDuration(v)
		if err != nil {
			return 0, problem(http.StatusBadRequest, "invalid_request", "overlap must be a duration like 24h")
		}
		d = q
	}
	if d < 0 || d > maxOverlap {
		return 0, problem(http.StatusBadRequest, "invalid_request", "overlap must be between 0s and 720h")
	}
	return d, nil
}

// rotatedSecret is the answer to rotate-secret: the new secret, shown once.
type rotatedSecret struct {
	ClientID                string     `json:"client_id"`
	ClientSecret            string     `json:"client_secret"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
}

// rotateSecret is POST /admin/v1/clients/{id}/rotate-secret: a new
// client secret; the current ones keep working for the overlap. With
// overlap 0 the client gets a new token generation, so every token issued
// before is refused at once.
func (s *Server) rotateSecret(c *gin.Context) {
	id, ok := pathID(c)
	if !ok {
		return
	}
	d, perr := overlap(c)
	if perr != nil {
		writeProblem(c, perr)
		return
	}
	secret := catalog.NewClientSecret()
	hash, err := catalog.HashSecret(secret)
	if err != nil {
		writeProblem(c, err)
		return
	}
	now := s.cfg.Now().UTC()
	until := now.Add(d)
	if _, err := s.deps.Catalog.UpdateClient(c, id, func(cl *catalog.Client) error {
		cl.PreviousSecrets = keepUnexpired(cl.PreviousSecrets, now)
		if d > 0 {
			for _, h := range cl.SecretHashes {
				cl.PreviousSecrets = append(cl.PreviousSecrets, catalog.ExpiringSecret{Value: h, ExpiresAt: until})
			}
		} else {
			// No overlap: the replaced secrets, and every token issued
			// before, stop working at once. (Secrets still in the overlap
			// of an earlier rotation keep it, and get new tokens.)
			cl.TokenGeneration = catalog.NewTokenGeneration()
		}
		cl.SecretHashes = []string{hash}
		return nil
	}); err != nil {
		writeProblem(c, err)
		return
	}
	s.auditAdmin(c, audit.ActionClientSecretRotated, id, "overlap="+d.String())
	out := rotatedSecret{ClientID: id, ClientSecret: secret}
	if d > 0 {
		out.PreviousSecretExpiresAt = &until
	}
	c.Header("Cache-Control", "no-store")
	writeJSON(c.Writer, http.StatusOK, out)
}

// rotatedWebhookSecret is the answer to rotate-webhook-secret.
type rotatedWebhookSecret struct {
	ClientID                string     `json:"client_id"`
	WebhookSecret           string     `json:"webhook_secret"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
}

// rotateWebhookSecret is POST /admin/v1/clients/{id}/rotate-webhook-secret:
// a new signing secret; callbacks carry signatures with both until the
// overlap ends (DESIGN 7.1).
func (s *Server) rotateWebhookSecret(c *gin.Context) {
	id, ok := pathID(c)
	if !ok {
		return
	}
	d, perr := overlap(c)
	if perr != nil {
		writeProblem(c, perr)
		return
	}
	secret := catalog.NewWebhookSecret()
	now := s.cfg.Now().UTC()
	until := now.Add(d)
	if _, err := s.deps.Catalog.UpdateClient(c, id, func(cl *catalog.Client) error {
		cl.PreviousWebhookSecrets = keepUnexpired(cl.PreviousWebhookSecrets, now)
		if d > 0 && cl.WebhookSecret != "" {
			cl.PreviousWebhookSecrets = append(cl.PreviousWebhookSecrets, catalog.ExpiringSecret{Value: cl.WebhookSecret, ExpiresAt: until})
		}
		cl.WebhookSecret = secret
		return nil
	}); err != nil {
		writeProblem(c, err)
		return
	}
	s.auditAdmin(c, audit.ActionClientWebhookRotated, id, "overlap="+d.String())
	out := rotatedWebhookSecret{ClientID: id, WebhookSecret: secret}
	if d > 0 {
		out.PreviousSecretExpiresAt = &until
	}
	c.Header("Cache-Control", "no-store")
	writeJSON(c.Writer, http.StatusOK, out)
}

func keepUnexpired(in []catalog.ExpiringSecret, now time.Time) []catalog.ExpiringSecret {
	var out []catalog.ExpiringSecret
	for _, e := range in {
		if now.Before(e.ExpiresAt) {
			out = append(out, e)
		}
	}
	return out
}
