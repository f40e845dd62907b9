package telemetry_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/devkit/demo"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/telemetry"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// logBuffer collects log output from many goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines decodes every JSON line.
func (l *logBuffer) lines(t *testing.T) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON log line: %s", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// At debug level, with tracing on, job-related lines carry trace_id,
// job_id, client_id and flow_id, and no secret of any kind reaches the
// log: partner and admin client secrets, access tokens, the webhook
// secret, a new client's secrets shown once by the admin API, and the
// provider's OAuth client secret used for the CPI token exchange.
func TestLogFieldsAndNoSecrets(t *testing.T) {
	var buf logBuffer
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.Logger = telemetry.NewLogger(&buf, slog.LevelDebug)
		c.Tracing = telemetry.Tracing{Provider: tp, Propagator: propagation.TraceContext{}}
	}})
	p := sys.Partner()
	var j testkit.Job
	p.Submit("demo-echo", "text/plain", []byte("logged"), nil).JSON(t, &j)
	p.WaitJob(j.ID, 30*time.Second)
	a := &testkit.Partner{T: t, BaseURL: sys.BaseURL, HTTP: http.DefaultClient,
		Token: testkit.Token(t, sys.BaseURL, sys.Creds.Admin.ClientID, sys.Creds.Admin.ClientSecret, "")}
	created := a.Do(http.MethodPost, "/admin/v1/clients", strings.NewReader(`{"id":"logged-client","name":"L","roles":["partner"],"grants":["demo-echo"]}`),
		http.Header{"Content-Type": {"application/json"}})
	var secrets struct {
		ClientSecret  string `json:"client_secret"`
		WebhookSecret string `json:"webhook_secret"`
	}
	created.JSON(t, &secrets)
	if created.Status != 201 || secrets.ClientSecret == "" {
		t.Fatalf("create client: %d %s", created.Status, created.Body)
	}
	// The new client exchanges its credentials for a token.
	testkit.Token(t, sys.BaseURL, "logged-client", secrets.ClientSecret, "")
	prov, _ := sys.Broker.Catalog.Provider(demo.ProviderID)

	var finished, request map[string]any
	testkit.Eventually(t, 10*time.Second, "the job's log lines", func() bool {
		for _, l := range buf.lines(t) {
			switch {
			case l["msg"] == "dispatcher: job finished" && l["job_id"] == j.ID:
				finished = l
			case l["msg"] == "http request" && l["job_id"] == j.ID && l["route"] == "/v1/flows/:flow/jobs":
				request = l
			}
		}
		return finished != nil && request != nil
	})
	for name, l := range map[string]map[string]any{"dispatcher": finished, "ingress": request} {
		for _, k := range []string{"trace_id", "job_id", "client_id", "flow_id"} {
			if s, _ := l[k].(string); s == "" {
				t.Errorf("%s line without %s: %v", name, k, l)
			}
		}
		if l["client_id"] != "demo-partner" || l["flow_id"] != "demo-echo" {
			t.Errorf("%s line: %v", name, l)
		}
	}
	if finished["trace_id"] != request["trace_id"] {
		t.Errorf("one job, two traces: %v / %v", finished["trace_id"], request["trace_id"])
	}
	out := buf.String()
	for what, s := range map[string]string{
		"partner secret": sys.Creds.Partner.ClientSecret, "admin secret": sys.Creds.Admin.ClientSecret,
		"webhook secret": sys.Creds.Partner.WebhookSecret, "partner token": p.Token, "admin token": a.Token,
		"new client secret": secrets.ClientSecret, "new webhook secret": secrets.WebhookSecret,
		"provider secret": prov.Runtime.ClientSecret,
	} {
		if len(s) < 8 {
			t.Fatalf("%s too short to search for: %q", what, s)
		}
		if strings.Contains(out, s) {
			t.Errorf("the log contains the %s", what)
		}
	}
	// A secret-named attribute is redacted even if a component logged one.
	var one logBuffer
	telemetry.NewLogger(&one, slog.LevelInfo).Info("x", "client_secret", "cs_live", "Authorization", "Bearer abc")
	if strings.Contains(one.String(), "cs_live") || strings.Contains(one.String(), "Bearer abc") {
		t.Errorf("not redacted: %s", one.String())
	}
}

// --log-level takes debug, info, warn or error (any case) and filters by it.
func TestLogLevels(t *testing.T) {
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError} {
		got, err := telemetry.ParseLevel(in)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := telemetry.ParseLevel("verbose"); err == nil {
		t.Error("ParseLevel accepted verbose")
	}
	var buf logBuffer
	log := telemetry.NewLogger(&buf, slog.LevelWarn)
	log.Info("hidden")
	log.Warn("shown")
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, "shown") {
		t.Errorf("warn level wrote %s", out)
	}
}
