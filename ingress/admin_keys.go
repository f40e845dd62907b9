package ingress

import (
	"net/http"

	"github.com/cpibroker/cpibroker/auth/keyring"
	"github.com/cpibroker/cpibroker/internal/audit"
	"github.com/gin-gonic/gin"
)

// keyResource is a published signing key (public half only).
type keyResource struct {
	keyring.Entry
	// Signing is true for the key this process signs with.
	Signing bool `json:"signing"`
}

// listKeys is GET /admin/v1/keys: every published key.
func (s *Server) listKeys(c *gin.Context) {
	if s.deps.Keys == nil {
		writeProblem(c, problem(http.StatusNotFound, "not_found", "this ingress has no shared key ring"))
		return
	}
	cur := s.deps.Keys.SigningKey()
	items := []keyResource{}
	for _, e := range s.deps.Keys.Keys() {
		items = append(items, keyResource{Entry: e, Signing: cur != nil && e.JWK.Kid == cur.KID()})
	}
	writeJSON(c.Writer, http.StatusOK, listPage[keyResource]{Items: items})
}

// rotatedKey is the answer to a key rotation.
type rotatedKey struct {
	OldKID string `json:"old_kid,omitempty"`
	NewKID string `json:"new_kid"`
}

// rotateKey is POST /admin/v1/keys/rotate: the answering ingress signs
// with a new key from now on; its old public key stays published until its
// last token has expired.
func (s *Server) rotateKey(c *gin.Context) {
	if s.deps.Keys == nil {
		writeProblem(c, problem(http.StatusNotFound, "not_found", "this ingress has no shared key ring"))
		return
	}
	oldKID, newKID, err := s.deps.Keys.Rotate(c)
	if err != nil {
		s.log.Error("key rotation failed", "err", err)
		writeProblem(c, &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "the key could not be rotated", RetryAfter: 2})
		return
	}
	s.auditAdmin(c, audit.ActionKeyRotated, newKID, "old_kid="+oldKID)
	writeJSON(c.Writer, http.StatusOK, rotatedKey{OldKID: oldKID, NewKID: newKID})
}
