package ingress

import (
	"context"
	"net/http"

	"github.com/cpibroker/cpibroker/catalog"
)

// checkTargets refuses webhook URLs and callback prefixes whose host is,
// or resolves to, an address the SSRF guard refuses (DESIGN 7.2): 400 at
// registration, not only a failure when dialled. A --config seed runs the
// same check (catalog.CheckTargets).
func (s *Server) checkTargets(ctx context.Context, hooks []catalog.Webhook, prefixes []string) *apiError {
	if err := catalog.CheckTargets(ctx, s.deps.Guard, hooks, prefixes); err != nil {
		return problem(http.StatusBadRequest, "invalid_request", err.Error())
	}
	return nil
}
