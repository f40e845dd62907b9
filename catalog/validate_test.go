package catalog_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
)

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func TestValidID(t *testing.T) {
	for i, tc := range []struct {
		id   string
		want bool
	}{
		{"a", true},
		{"0", true},
		{"demo-echo", true},
		{"acme-prod-orders-create", true},
		{"a-", true},
		{"a--b", true},
		{strings.Repeat("a", 63), true},
		{"9" + strings.Repeat("-", 62), true},
		{"", false},
		{strings.Repeat("a", 64), false},
		{"-a", false},
		{"A", false},
		{"demo_echo", false},
		{"demo.echo", false},
		{"demo*", false},
		{"demo>", false},
		{"demo echo", false},
		{"demo\n", false},
		{"démo", false},
		{"a/b", false},
		{"\x00", false},
	} {
		if got := catalog.ValidID(tc.id); got != tc.want {
			t.Errorf("Test %d: ValidID(%q) = %v, want %v", i, tc.id, got, tc.want)
		}
		if idPattern.MatchString(tc.id) != tc.want {
			t.Errorf("Test %d: table disagrees with the DESIGN regexp for %q", i, tc.id)
		}
	}
}

// FuzzValidID: ValidID is exactly DESIGN 2's regexp, so no ID that reaches a
// NATS subject can contain '.', '*', '>' or whitespace.
func FuzzValidID(f *testing.F) {
	for _, s := range []string{"a", "demo-echo", "-a", "A", "a.b", strings.Repeat("a", 63), strings.Repeat("a", 64), "a\n", "ａ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, want := catalog.ValidID(s), idPattern.MatchString(s)
		if got != want {
			t.Fatalf("ValidID(%q) = %v, regexp says %v", s, got, want)
		}
		if got && strings.ContainsAny(s, ".*> \t\r\n_") {
			t.Fatalf("ValidID accepted subject-unsafe %q", s)
		}
	})
}

func TestPolicy_Validate(t *testing.T) {
	d := func(s string) catalog.Duration {
		v, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		return catalog.Duration(v)
	}
	for _, tc := range []struct {
		name   string
		change func(*catalog.Policy)
		errs   []string // substrings; none means valid
	}{
		{"defaults", func(*catalog.Policy) {}, nil},
		{"bounds inclusive", func(p *catalog.Policy) {
			p.Timeout, p.MaxAttempts, p.BackoffBase, p.BackoffCap = d("1s"), 1, d("5m"), d("5m")
		}, nil},
		{"upper bounds", func(p *catalog.Policy) { p.Timeout, p.MaxAttempts = d("10m"), 100 }, nil},
		{"unlimited rate and concurrency", func(p *catalog.Policy) { p.Rate, p.Concurrency = 0, 0 }, nil},
		{"timeout zero", func(p *catalog.Policy) { p.Timeout = 0 }, []string{"policy.timeout"}},
		{"timeout under 1s", func(p *catalog.Policy) { p.Timeout = d("999ms") }, []string{"policy.timeout"}},
		{"timeout over 10m", func(p *catalog.Policy) { p.Timeout = d("10m1s") }, []string{"policy.timeout"}},
		{"no attempts", func(p *catalog.Policy) { p.MaxAttempts = 0 }, []string{"policy.max_attempts"}},
		{"too many attempts", func(p *catalog.Policy) { p.MaxAttempts = 101 }, []string{"policy.max_attempts"}},
		{"zero backoff", func(p *catalog.Policy) { p.BackoffBase = 0 }, []string{"policy.backoff_base"}},
		{"negative backoff", func(p *catalog.Policy) { p.BackoffBase = d("-1s") }, []string{"policy.backoff_base"}},
		{"cap below base", func(p *catalog.Policy) { p.BackoffBase, p.BackoffCap = d("10s"), d("5s") }, []string{"policy.backoff_base"}},
		{"negative rate", func(p *catalog.Policy) { p.Rate = -1 }, []string{"policy.rate"}},
		{"negative concurrency", func(p *catalog.Policy) { p.Concurrency = -1 }, []string{"policy.concurrency"}},
		{"empty forward header", func(p *catalog.Policy) { p.ForwardHeaders = []string{"X-A", ""} }, []string{"policy.forward_headers"}},
		{"every problem at once", func(p *catalog.Policy) {
			p.Timeout, p.MaxAttempts, p.Rate = 0, 0, -1
		}, []string{"policy.timeout", "policy.max_attempts", "policy.rate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := catalog.DefaultPolicy()
			tc.change(&p)
			assertErrs(t, p.Validate(), tc.errs)
		})
	}
}

// TestPolicy_Validate_breaker: breaker settings an operator can PATCH must
// be checked like the rest of the policy; a negative count or a ratio
// outside 0..1 would silently disable the breaker.
func TestPolicy_Validate_breaker(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*catalog.Breaker)
	}{
		{"negative consecutive failures", func(b *catalog.Breaker) { b.ConsecutiveFailures = -1 }},
		{"failure ratio above 1", func(b *catalog.Breaker) { b.FailureRatio = 1.5 }},
		{"negative failure ratio", func(b *catalog.Breaker) { b.FailureRatio = -0.1 }},
		{"negative min requests", func(b *catalog.Breaker) { b.MinRequests = -1 }},
		{"negative window", func(b *catalog.Breaker) { b.Window = catalog.Duration(-time.Second) }},
		{"negative open_for", func(b *catalog.Breaker) { b.OpenFor = catalog.Duration(-time.Second) }},
		{"negative half-open probes", func(b *catalog.Breaker) { b.HalfOpenProbes = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := catalog.DefaultPolicy()
			tc.change(&p.Breaker)
			if p.Validate() == nil {
				t.Fatalf("breaker %+v accepted", p.Breaker)
			}
		})
	}
}

func validFlow() catalog.Flow {
	return catalog.Flow{
		ID: "acme-prod-orders-create", Provider: "acme-prod", URL: "https://x.example/http/orders/create",
		Status: catalog.FlowEnabled, Policy: catalog.DefaultPolicy(),
	}
}

func TestFlow_Validate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*catalog.Flow)
		errs   []string
	}{
		{"valid", func(*catalog.Flow) {}, nil},
		{"disabled", func(f *catalog.Flow) { f.Status = catalog.FlowDisabled }, nil},
		{"unavailable", func(f *catalog.Flow) { f.Status = catalog.FlowUnavailable }, nil},
		{"bad id", func(f *catalog.Flow) { f.ID = "Orders_Create" }, []string{"flow id"}},
		{"bad provider", func(f *catalog.Flow) { f.Provider = "" }, []string{"flow provider"}},
		{"no url", func(f *catalog.Flow) { f.URL = "" }, []string{"flow url"}},
		{"unknown status", func(f *catalog.Flow) { f.Status = "paused" }, []string{"flow status"}},
		{"empty status", func(f *catalog.Flow) { f.Status = "" }, []string{"flow status"}},
		{"bad policy", func(f *catalog.Flow) { f.Policy.MaxAttempts = 0 }, []string{"policy.max_attempts"}},
		{"everything wrong", func(f *catalog.Flow) { *f = catalog.Flow{} },
			[]string{"flow id", "flow provider", "flow url", "flow status", "policy.timeout"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := validFlow()
			tc.change(&f)
			assertErrs(t, f.Validate(), tc.errs)
		})
	}
}

func validProvider() catalog.Provider {
	return catalog.Provider{
		ID: "acme-prod", Type: catalog.ProviderCPI,
		Runtime: catalog.Endpoint{URL: "https://x.it-cpi018-rt.cfapps.eu10.hana.ondemand.com", TokenURL: "https://x.authentication.eu10.hana.ondemand.com/oauth/token", ClientID: "sb-1", ClientSecret: "s"},
	}
}

func TestProvider_Validate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*catalog.Provider)
		errs   []string
	}{
		{"cpi", func(*catalog.Provider) {}, nil},
		{"http", func(p *catalog.Provider) { p.Type = catalog.ProviderHTTP }, nil},
		{"loopback http", func(p *catalog.Provider) { p.Runtime.URL = "http://127.0.0.1:8081" }, nil},
		{"bad id", func(p *catalog.Provider) { p.ID = "ACME" }, []string{"provider id"}},
		{"unknown type", func(p *catalog.Provider) { p.Type = "soap" }, []string{"provider type"}},
		{"no type", func(p *catalog.Provider) { p.Type = "" }, []string{"provider type"}},
		{"no runtime url", func(p *catalog.Provider) { p.Runtime.URL = "" }, []string{"runtime.url"}},
		{"everything wrong", func(p *catalog.Provider) { *p = catalog.Provider{} }, []string{"provider id", "provider type", "runtime.url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := validProvider()
			tc.change(&p)
			assertErrs(t, p.Validate(), tc.errs)
		})
	}
}

// TestProvider_Validate_https: DESIGN 3.1 "Provider URLs are https://,
// except loopback hosts": credentials must not travel in clear text.
func TestProvider_Validate_https(t *testing.T) {
	for _, u := range []string{"http://x.example", "ftp://x.example", "x.example", "https://"} {
		p := validProvider()
		p.Runtime.URL = u
		if p.Validate() == nil {
			t.Errorf("runtime.url %q accepted", u)
		}
	}
}

func validClient() catalog.Client {
	return catalog.Client{
		ID: "acme", Name: "ACME Corp", Roles: []string{catalog.RolePartner}, Enabled: true,
		Grants: []string{"demo-echo"}, SecretHashes: []string{"$2a$10$x"},
	}
}

func TestClient_Validate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*catalog.Client)
		errs   []string
	}{
		{"partner", func(*catalog.Client) {}, nil},
		{"admin and partner", func(c *catalog.Client) { c.Roles = []string{catalog.RoleAdmin, catalog.RolePartner} }, nil},
		{"no grants", func(c *catalog.Client) { c.Grants = nil }, nil},
		{"bad id", func(c *catalog.Client) { c.ID = "acme corp" }, []string{"client id"}},
		{"bad grant", func(c *catalog.Client) { c.Grants = []string{"demo-echo", "Demo.*"} }, []string{"grant \"Demo.*\""}},
		{"unknown role", func(c *catalog.Client) { c.Roles = []string{"root"} }, []string{"role \"root\""}},
		{"no secret", func(c *catalog.Client) { c.SecretHashes = nil }, []string{"no secret"}},
		{"everything wrong", func(c *catalog.Client) { *c = catalog.Client{ID: "-", Roles: []string{"x"}, Grants: []string{""}} },
			[]string{"client id", "grant", "role", "no secret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validClient()
			tc.change(&c)
			assertErrs(t, c.Validate(), tc.errs)
		})
	}
	c := validClient()
	if !c.HasRole(catalog.RolePartner) || c.HasRole(catalog.RoleAdmin) || !c.Granted("demo-echo") || c.Granted("demo-slow") {
		t.Error("HasRole/Granted disagree with the client")
	}
}

func assertErrs(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

func TestDuration_JSON(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{`"60s"`, time.Minute},
		{`"1m0s"`, time.Minute},
		{`"5m"`, 5 * time.Minute},
		{`"1h30m"`, 90 * time.Minute},
		{`"250ms"`, 250 * time.Millisecond},
		{`"0s"`, 0},
	} {
		var d catalog.Duration
		if err := json.Unmarshal([]byte(tc.in), &d); err != nil || d.D() != tc.want {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", tc.in, d.D(), err, tc.want)
			continue
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var back catalog.Duration
		if err := json.Unmarshal(b, &back); err != nil || back != d {
			t.Errorf("round trip of %s via %s = %v, %v", tc.in, b, back.D(), err)
		}
	}
	for _, in := range []string{`60`, `"60"`, `"abc"`, `""`, `null`, `true`, `{"s":1}`, `"1y"`} {
		var d catalog.Duration
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("Unmarshal(%s) accepted as %v", in, d.D())
		}
	}
}

// TestPolicy_JSON_round_trip: the admin API's policy document survives
// storage, with durations written as strings.
func TestPolicy_JSON_round_trip(t *testing.T) {
	p := catalog.DefaultPolicy()
	p.ForwardHeaders = []string{"X-Correlation-ID"}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{`"timeout":"1m0s"`, `"backoff_base":"1s"`, `"backoff_cap":"5m0s"`, `"window":"30s"`} {
		if !strings.Contains(string(b), part) {
			t.Errorf("policy JSON %s lacks %s", b, part)
		}
	}
	var back catalog.Policy
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(back)
	if string(b2) != string(b) {
		t.Fatalf("round trip changed the policy:\n%s\n%s", b, b2)
	}
	// The DESIGN 3.1 example document decodes to the defaults.
	var doc catalog.Policy
	if err := json.Unmarshal([]byte(`{"timeout":"60s","max_attempts":8,"backoff_base":"1s","backoff_cap":"5m","retry_on_500":false,
	"rate":50,"concurrency":20,"forward_headers":[],
	"breaker":{"consecutive_failures":5,"failure_ratio":0.5,"min_requests":20,"window":"30s","open_for":"30s","half_open_probes":1}}`), &doc); err != nil {
		t.Fatal(err)
	}
	bd, _ := json.Marshal(doc)
	bdef, _ := json.Marshal(catalog.DefaultPolicy())
	if string(bd) != string(bdef) {
		t.Fatalf("DESIGN example %s\n!= DefaultPolicy %s", bd, bdef)
	}
}

func TestDuration_Text(t *testing.T) {
	var d catalog.Duration
	if err := d.UnmarshalText([]byte("90s")); err != nil || d.D() != 90*time.Second {
		t.Fatalf("UnmarshalText: %v %v", d.D(), err)
	}
	if b, _ := d.MarshalText(); string(b) != "1m30s" {
		t.Fatalf("MarshalText = %s", b)
	}
	if err := d.UnmarshalText([]byte("soon")); err == nil {
		t.Fatal("UnmarshalText accepted garbage")
	}
}

func TestFlow_Wildcard(t *testing.T) {
	for i, tc := range []struct {
		address, url string
		want         bool
	}{
		{"/orders/*", "https://t.example/http/orders/*", true},
		{"/orders/*", "https://t.example/http/orders", true},
		{"", "https://t.example/http/orders/*", true},
		{"/orders", "https://t.example/http/orders", false},
		{"/orders*", "https://t.example/http/orders*", false},
		{"", "", false},
	} {
		f := catalog.Flow{Address: tc.address, URL: tc.url}
		if got := f.Wildcard(); got != tc.want {
			t.Errorf("Test %d: Wildcard(%q, %q) = %v, want %v", i, tc.address, tc.url, got, tc.want)
		}
	}
}

// FuzzDuration_JSON: any JSON either fails to decode or decodes to a
// duration that survives a Marshal/Unmarshal round trip.
func FuzzDuration_JSON(f *testing.F) {
	for _, s := range []string{`"60s"`, `"1h2m3.5s"`, `"-5m"`, `60`, `""`, `null`, `"9999999999h"`, `"1µs"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d catalog.Duration
		if json.Unmarshal(b, &d) != nil {
			return
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("Marshal(%v): %v", d.D(), err)
		}
		var back catalog.Duration
		if err := json.Unmarshal(out, &back); err != nil || back != d {
			t.Fatalf("%s → %v → %s → %v, %v", b, d.D(), out, back.D(), err)
		}
	})
}
