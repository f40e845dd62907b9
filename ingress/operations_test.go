package ingress_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/internal/broker"
	"github.com/cpibroker/cpibroker/internal/clock"
	"github.com/cpibroker/cpibroker/internal/testkit"
)

// An expired token of the broker gets a 401 that says so (RFC 6750
// error_description and the problem's detail); a missing or forged token
// does not, and neither discloses more.
func TestExpiredTokenSaysExpired(t *testing.T) {
	clk := clock.NewManual(time.Now())
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) { c.IngressConfig.Now = clk.Now }})
	p := sys.Partner()
	if r := p.Do(http.MethodGet, "/v1/flows", nil, nil); r.Status != 200 {
		t.Fatalf("fresh token: %d %s", r.Status, r.Body)
	}
	clk.Advance(2 * time.Hour)
	r := p.Do(http.MethodGet, "/v1/flows", nil, nil)
	prob := expectProblem(t, r, http.StatusUnauthorized, "invalid_token")
	if ch := r.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="invalid_token"`) || !strings.Contains(ch, `error_description="the access token expired"`) {
		t.Fatalf("challenge %q", ch)
	}
	if !strings.Contains(prob.Detail, "expired") {
		t.Fatalf("detail %q", prob.Detail)
	}
	for name, tok := range map[string]string{"missing": "", "forged": p.Token[:len(p.Token)-4] + "AAAA"} {
		q := *p
		q.Token = tok
		r := q.Do(http.MethodGet, "/v1/flows", nil, nil)
		prob := expectProblem(t, r, http.StatusUnauthorized, "invalid_token")
		if strings.Contains(r.Header.Get("WWW-Authenticate")+prob.Detail, "expired") {
			t.Fatalf("%s token: %q %q", name, r.Header.Get("WWW-Authenticate"), prob.Detail)
		}
	}
}

var _ = url.QueryEscape
