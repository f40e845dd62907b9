package cpitoken_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/internal/cpitoken"
)

func startSim(t *testing.T, edit func(*cpisim.Config)) (*cpisim.Sim, cpisim.Config) {
	t.Helper()
	cfg := cpisim.Config{}
	if edit != nil {
		edit(&cfg)
	}
	sim, err := cpisim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	if cfg.RuntimeClientID == "" {
		cfg.RuntimeClientID, cfg.RuntimeClientSecret = cpisim.DefaultRuntimeClientID, cpisim.DefaultRuntimeClientSecret
	}
	return sim, cfg
}

func source(sim *cpisim.Sim, cfg cpisim.Config, a cpitoken.Auth, mem *cpitoken.Memory, log *slog.Logger) *cpitoken.Source {
	return cpitoken.New(cpitoken.Config{TokenURL: sim.TokenURL(), ClientID: cfg.RuntimeClientID, ClientSecret: cfg.RuntimeClientSecret,
		Auth: a, Memory: mem, Log: log})
}

// TestStrictModes: the default (body) and auto work against every strict
// token endpoint; basic and basic-raw fail exactly where a real server
// would refuse them, as a refusal (a provider problem), naming the cause.
func TestStrictModes(t *testing.T) {
	ctx := context.Background()
	for _, m := range cpisim.StrictModes() {
		t.Run(m.Name, func(t *testing.T) {
			sim, cfg := startSim(t, m.Apply)
			for _, a := range []cpitoken.Auth{"", cpitoken.AuthBody, cpitoken.AuthAuto} {
				if tok, err := source(sim, cfg, a, nil, nil).Token(ctx); err != nil || tok.AccessToken == "" {
					t.Fatalf("token_auth %q: %v", a, err)
				}
			}
			_, errBasic := source(sim, cfg, cpitoken.AuthBasic, nil, nil).Token(ctx)
			_, errRaw := source(sim, cfg, cpitoken.AuthBasicRaw, nil, nil).Token(ctx)
			switch m.Name {
			case "basic-no-decode":
				if !errors.Is(errBasic, cpitoken.ErrRefused) || errRaw != nil {
					t.Fatalf("basic %v, basic-raw %v", errBasic, errRaw)
				}
				if !strings.Contains(errBasic.Error(), "answered 401 unauthorized (Bad credentials); credentials sent as token_auth basic") {
					t.Fatalf("message %q", errBasic)
				}
			case "basic-decode":
				if errBasic != nil || !errors.Is(errRaw, cpitoken.ErrRefused) {
					t.Fatalf("basic %v, basic-raw %v", errBasic, errRaw)
				}
			default:
				if errBasic != nil || errRaw != nil {
					t.Fatalf("basic %v, basic-raw %v", errBasic, errRaw)
				}
			}
		})
	}
}

// TestQueryStringRefused: a strict endpoint refuses grant_type in the query
// string; no token_auth ever sends one.
func TestQueryStringRefused(t *testing.T) {
	sim, cfg := startSim(t, func(c *cpisim.Config) { c.XSUAA.RejectQuery = true })
	req, _ := http.NewRequest(http.MethodPost, sim.TokenURL()+"?grant_type=client_credentials", nil)
	req.SetBasicAuth(cfg.RuntimeClientID, cfg.RuntimeClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// TestAutoFallsBackAndRemembers: against an endpoint that takes Basic only
// and does not decode it, auto tries body, basic, basic-raw once, logs its
// choice, and then sends only basic-raw for that token URL.
func TestAutoFallsBackAndRemembers(t *testing.T) {
	sim, cfg := startSim(t, func(c *cpisim.Config) {
		c.XSUAA = cpisim.XSUAAMode{RejectBodyCredentials: true, Basic: cpisim.BasicNoDecode}
	})
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	mem := &cpitoken.Memory{}
	ctx := context.Background()
	if _, err := source(sim, cfg, cpitoken.AuthAuto, mem, log).Token(ctx); err != nil {
		t.Fatal(err)
	}
	if n := sim.TokenRequests(); n != 3 {
		t.Fatalf("first fetch sent %d requests, want 3", n)
	}
	if !strings.Contains(logs.String(), "token_auth=basic-raw") {
		t.Fatalf("log %q", logs.String())
	}
	// A new source (a rebuilt client) on the same memory goes straight there.
	if _, err := source(sim, cfg, cpitoken.AuthAuto, mem, log).Token(ctx); err != nil {
		t.Fatal(err)
	}
	if n := sim.TokenRequests(); n != 4 {
		t.Fatalf("second fetch: %d requests in all, want 4", n)
	}
}

// TestWrongSecretIsRefused: a wrong secret is a refusal in every mode, and
// the message never carries the secret.
func TestWrongSecretIsRefused(t *testing.T) {
	sim, cfg := startSim(t, nil)
	cfg.RuntimeClientSecret = "wrong$secret"
	for _, a := range []cpitoken.Auth{cpitoken.AuthBody, cpitoken.AuthBasic, cpitoken.AuthBasicRaw, cpitoken.AuthAuto} {
		_, err := source(sim, cfg, a, nil, nil).Token(context.Background())
		var te *cpitoken.Error
		if !errors.Is(err, cpitoken.ErrRefused) || !errors.As(err, &te) || te.Status != 401 {
			t.Fatalf("%s: %v", a, err)
		}
		if strings.Contains(err.Error(), "wrong") {
			t.Fatalf("%s: message carries the secret: %q", a, err)
		}
	}
}

// TestUnreachableIsNotRefused: no answer is not a refusal (no provider_auth).
func TestUnreachableIsNotRefused(t *testing.T) {
	src := cpitoken.New(cpitoken.Config{TokenURL: "http://127.0.0.1:1/oauth/token", ClientID: "a", ClientSecret: "b", Auth: cpitoken.AuthAuto})
	_, err := src.Token(context.Background())
	if err == nil || errors.Is(err, cpitoken.ErrRefused) {
		t.Fatalf("err %v", err)
	}
}
