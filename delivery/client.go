package delivery

import (
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
)

// newHTTPClient is the client for partner-controlled URLs: every dial goes
// through the SSRF guard (resolve, refuse internal addresses, check the
// connected socket again); no proxy (a proxy would dial for us and bypass
// the check); TLS verified with the system roots; redirects returned, not
// followed; one client span per attempt.
func newHTTPClient(cfg Config) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           cfg.Guard.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   cfg.EndpointConcurrency,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: otelhttp.NewTransport(tr,
			otelhttp.WithTracerProvider(cfg.TracerProvider), otelhttp.WithPropagators(cfg.Propagator),
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "callback " + r.Method })),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
