package ingress

import (
	"context"
	"net/http"

	"github.com/cpibroker/cpibroker/catalog"
)

// checkTargets refuses webhook URLs and callback prefixes whose host is,
// or resolves to, an address the SSRF guard refuses (DESIGN 7.2): 400 at
// registration, not only a failure when dialled.
func (s *Server) checkTargets(ctx context.Context, hooks []catalog.Webhook, prefixes []string) *apiError {
	for _, w := range hooks {
		if err := s.deps.Guard.CheckURL(ctx, w.URL); err != nil {
			return problem(http.StatusBadRequest, "invalid_request", "webhook "+w.ID+" url: "+err.Error())
		}
	}
	for _, p := range prefixes {
		if err := s.deps.Guard.CheckURL(ctx, p); err != nil {
			return problem(http.StatusBadRequest, "invalid_request", "callback prefix "+p+": "+err.Error())
		}
	}
	return nil
}
