package dispatcher

import (
	"log/slog"
	"net/http"
	"sync"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/cpiclient"
	"github.com/cpibroker/cpibroker/internal/cpitoken"
	"github.com/cpibroker/cpibroker/internal/telemetry"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// invokers keeps one CPI client per provider (its token and CSRF caches),
// rebuilt when the provider's settings change.
type invokers struct {
	http *http.Client
	mem  *cpitoken.Memory // what token_auth auto found, per token URL
	mu   sync.Mutex
	byID map[string]invoker
	log  *slog.Logger
	// secrets resolves ${…} references in provider secrets.
	secrets catalog.SecretRefs
}

type invoker struct {
	prov   catalog.Provider
	client *cpiclient.Client
}

func newInvokers(base *http.Client, tp trace.TracerProvider, prop propagation.TextMapPropagator, log *slog.Logger, mem *cpitoken.Memory) *invokers {
	transport := base.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	c := *base
	if telemetry.Enabled(tp) {
		c.Transport = otelhttp.NewTransport(transport,
			otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(prop),
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "CPI " + r.Method + " " + r.URL.Path }))
	} else {
		c.Transport = telemetry.PropagatingTransport{Base: transport, Propagator: prop}
	}
	return &invokers{http: &c, byID: map[string]invoker{}, log: log, mem: mem}
}

func (iv *invokers) get(p catalog.Provider) (*cpiclient.Client, error) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	if cur, ok := iv.byID[p.ID]; ok && equalProvider(cur.prov, p) {
		return cur.client, nil
	}
	rt, err := p.Runtime.Resolved(iv.secrets) // ${NAME} and ${file:NAME} references
	if err != nil {
		return nil, err
	}
	c, err := cpiclient.New(cpiclient.Config{
		TokenURL: rt.TokenURL, ClientID: rt.ClientID, ClientSecret: rt.ClientSecret,
		TokenAuth: p.TokenAuthMode(), TokenMemory: iv.mem,
		CSRF: p.CSRF, HTTPClient: iv.http, Logger: iv.log,
	})
	if err != nil {
		return nil, err
	}
	iv.byID[p.ID] = invoker{prov: p, client: c}
	return c, nil
}

func equalProvider(a, b catalog.Provider) bool {
	return a.Runtime == b.Runtime && a.CSRF == b.CSRF && a.Type == b.Type && a.TokenAuth == b.TokenAuth
}
