package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/cpibroker/cpibroker/internal/cpisim"
)

// runCPISim runs "cpibroker cpisim": the CPI tenant simulator alone on its
// own port, until ctx is done.
func runCPISim(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("cpisim", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8081", "address to listen on (the /sim/v1 admin API answers loopback callers only)")
	rtID := fs.String("runtime-client-id", cpisim.DefaultRuntimeClientID, "client ID of the integration-flow plan service key")
	rtSecret := fs.String("runtime-client-secret", cpisim.DefaultRuntimeClientSecret, "client secret of the integration-flow plan service key")
	apiID := fs.String("api-client-id", cpisim.DefaultAPIClientID, "client ID of the api plan service key")
	apiSecret := fs.String("api-client-secret", cpisim.DefaultAPIClientSecret, "client secret of the api plan service key")
	demo := fs.Bool("demo-flows", true, "deploy the demo iFlows Echo, Slow and Flaky")
	seed := fs.Int64("seed", 0, "seed of the injected error decisions (0: time-based)")
	generated := fs.Int("iflows", 0, "also deploy this many generated iFlows (Gen_00001 at /gen/00001, …), for discovery of large tenants")
	pageSize := fs.Int("odata-page-size", cpisim.DefaultODataPageSize, "most entities per OData API answer before a __next link")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("cpisim: unexpected arguments %q", fs.Args())
	}

	sim, err := cpisim.New(cpisim.Config{
		RuntimeClientID: *rtID, RuntimeClientSecret: *rtSecret,
		APIClientID: *apiID, APIClientSecret: *apiSecret,
		Seed: *seed, ODataPageSize: *pageSize,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		return fmt.Errorf("cpisim: %w", err)
	}
	if *demo {
		for _, f := range cpisim.DemoIFlows() {
			if err := sim.Deploy(f); err != nil {
				return fmt.Errorf("cpisim: %w", err)
			}
		}
	}
	for _, f := range cpisim.GeneratedIFlows(*generated) {
		if err := sim.Deploy(f); err != nil {
			return fmt.Errorf("cpisim: %w", err)
		}
	}
	base, err := sim.Start(*listen)
	if err != nil {
		return fmt.Errorf("cpisim: %w", err)
	}
	printCPISim(os.Stdout, sim, base, *rtID, *rtSecret, *apiID, *apiSecret)

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
