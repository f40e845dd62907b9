package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/cpibroker/cpibroker/devkit/cpisim"
)

// cpisimOptions are the flags of `cpibroker cpisim`.
type cpisimOptions struct {
	listen    string
	rtID      string
	rtSecret  string
	apiID     string
	apiSecret string
	demo      bool
	seed      int64
	generated int
	pageSize  int
	publicURL string
	xsuaa     cpisim.XSUAAMode
	basic     string
	rtTTL     time.Duration
	apiTTL    time.Duration
}

// cpisimFlags is the flag set of `cpibroker cpisim`.
func cpisimFlags() (*flag.FlagSet, *cpisimOptions) {
	fs := flag.NewFlagSet("cpisim", flag.ContinueOnError)
	o := &cpisimOptions{}
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8081", "address to listen on (the /sim/v1 admin API answers loopback callers only)")
	fs.StringVar(&o.rtID, "runtime-client-id", cpisim.DefaultRuntimeClientID, "client ID of the integration-flow plan service key")
	fs.StringVar(&o.rtSecret, "runtime-client-secret", cpisim.DefaultRuntimeClientSecret, "client secret of the integration-flow plan service key")
	fs.StringVar(&o.apiID, "api-client-id", cpisim.DefaultAPIClientID, "client ID of the api plan service key")
	fs.StringVar(&o.apiSecret, "api-client-secret", cpisim.DefaultAPIClientSecret, "client secret of the api plan service key")
	fs.BoolVar(&o.demo, "demo-flows", true, "deploy the demo iFlows Echo, Slow and Flaky")
	fs.Int64Var(&o.seed, "seed", 0, "seed of the injected error decisions (0: time-based)")
	fs.IntVar(&o.generated, "iflows", 0, "also deploy this many generated iFlows (Gen_00001 at /gen/00001, …), for discovery of large tenants")
	fs.IntVar(&o.pageSize, "odata-page-size", cpisim.DefaultODataPageSize, "most entities per OData API answer before a __next link")
	fs.StringVar(&o.publicURL, "public-url", "", "base URL the tenant announces in its OData API (default http://<listen address>); set it when callers reach the simulator by another name, as in a container network")
	fs.BoolVar(&o.xsuaa.RejectQuery, "xsuaa-reject-query", false, "token endpoint: answer 400 to token requests with a query string (XSUAA from 2026-06-30)")
	fs.StringVar(&o.basic, "xsuaa-basic", "", "token endpoint: how HTTP Basic credentials are read: no-decode (refuses form-encoded Basic) or decode (refuses raw Basic of secrets with + or %); default both")
	fs.BoolVar(&o.xsuaa.RejectBodyCredentials, "xsuaa-reject-body-credentials", false, "token endpoint: refuse client_id/client_secret in the form body (Basic only)")
	fs.DurationVar(&o.rtTTL, "runtime-token-ttl", cpisim.DefaultRuntimeTokenTTL, "validity of runtime tokens (at least 2s)")
	fs.DurationVar(&o.apiTTL, "api-token-ttl", cpisim.DefaultAPITokenTTL, "validity of api tokens (at least 2s)")
	return fs, o
}

// runCPISim runs "cpibroker cpisim": the CPI tenant simulator alone on its
// own port, until ctx is done.
func runCPISim(ctx context.Context, args []string) error {
	fs, o := cpisimFlags()
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("cpisim: unexpected arguments %q", fs.Args())
	}

	sim, err := cpisim.New(cpisim.Config{
		RuntimeClientID: o.rtID, RuntimeClientSecret: o.rtSecret,
		APIClientID: o.apiID, APIClientSecret: o.apiSecret,
		Seed: o.seed, ODataPageSize: o.pageSize, PublicURL: o.publicURL,
		XSUAA:           cpisim.XSUAAMode{RejectQuery: o.xsuaa.RejectQuery, Basic: cpisim.BasicMode(o.basic), RejectBodyCredentials: o.xsuaa.RejectBodyCredentials},
		RuntimeTokenTTL: o.rtTTL, APITokenTTL: o.apiTTL,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		return fmt.Errorf("cpisim: %w", err)
	}
	if o.demo {
		for _, f := range cpisim.DemoIFlows() {
			if err := sim.Deploy(f); err != nil {
				return fmt.Errorf("cpisim: %w", err)
			}
		}
	}
	for _, f := range cpisim.GeneratedIFlows(o.generated) {
		if err := sim.Deploy(f); err != nil {
			return fmt.Errorf("cpisim: %w", err)
		}
	}
	base, err := sim.Start(o.listen)
	if err != nil {
		return fmt.Errorf("cpisim: %w", err)
	}
	printCPISim(os.Stdout, sim, base, o.rtID, o.rtSecret, o.apiID, o.apiSecret)

	<-ctx.Done()
	if err := sim.Close(); err != nil {
		return fmt.Errorf("cpisim: %w", err)
	}
	return nil
}

// printCPISim prints the endpoints and the two service keys, shaped like
// real CPI service keys, so that they can be pasted into a provider.
func printCPISim(w io.Writer, sim *cpisim.Sim, base, rtID, rtSecret, apiID, apiSecret string) {
	type oauthKey struct {
		ClientID     string `json:"clientid"`
		ClientSecret string `json:"clientsecret"`
		URL          string `json:"url"`
		TokenURL     string `json:"tokenurl"`
	}
	key := func(id, secret string) string {
		b, _ := json.Marshal(struct {
			OAuth oauthKey `json:"oauth"`
		}{oauthKey{id, secret, base, sim.TokenURL()}})
		return string(b)
	}
	fmt.Fprintf(w, "cpisim: simulated SAP Cloud Integration tenant\n")
	fmt.Fprintf(w, "  base URL:  %s\n", base)
	fmt.Fprintf(w, "  token URL: %s\n", sim.TokenURL())
	fmt.Fprintf(w, "  admin API: %s/sim/v1/iflows (loopback callers only)\n", base)
	fmt.Fprintf(w, "  runtime service key (integration-flow plan): %s\n", key(rtID, rtSecret))
	fmt.Fprintf(w, "  api service key (api plan):                  %s\n", key(apiID, apiSecret))
	fmt.Fprintf(w, "  OData API: %s/api/v1 (api plan credentials)\n", base)
	flows := sim.IFlows()
	for i, f := range flows {
		if i == 20 {
			fmt.Fprintf(w, "  … and %d more iflows\n", len(flows)-i)
			break
		}
		fmt.Fprintf(w, "  iflow %-8s %s (csrf %v)\n", f.ID, sim.EndpointURL(f.ID), f.CSRF)
	}
}
