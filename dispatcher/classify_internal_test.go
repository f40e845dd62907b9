package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/cpiclient"
	"github.com/cpibroker/cpibroker/internal/cpitoken"
)

func answer(status int, header ...string) *cpiclient.Response {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &cpiclient.Response{StatusCode: status, Header: h}
}

// TestClassify is DESIGN 5's table: what each CPI answer does to the job
// (succeed, fail with cpi_error, retry) and whether it counts against the
// flow's circuit breaker.
func TestClassify(t *testing.T) {
	plain := catalog.DefaultPolicy()
	on500 := catalog.DefaultPolicy()
	on500.RetryOn500 = true
	transport := errors.New("dial tcp 10.0.0.1:443: connect: connection refused")
	for i, tc := range []struct {
		name    string
		resp    *cpiclient.Response
		err     error
		policy  catalog.Policy
		out     outcome
		breaker bool
	}{
		{"200", answer(200), nil, plain, succeeded, false},
		{"201", answer(201), nil, plain, succeeded, false},
		{"202", answer(202), nil, plain, succeeded, false},
		{"204", answer(204), nil, plain, succeeded, false},
		{"299", answer(299), nil, plain, succeeded, false},
		{"301", answer(301), nil, plain, businessError, false},
		{"302", answer(302), nil, plain, businessError, false},
		{"304", answer(304), nil, plain, businessError, false},
		{"307", answer(307), nil, plain, businessError, false},
		{"400", answer(400), nil, plain, businessError, false},
		{"401 after refetch", answer(401), nil, plain, providerAuth, false},
		{"403 after refetch", answer(403), nil, plain, providerAuth, false},
		{"404", answer(404), nil, plain, businessError, false},
		{"408", answer(408), nil, plain, retryable, false},
		{"409", answer(409), nil, plain, businessError, false},
		{"413", answer(413), nil, plain, businessError, false},
		{"422", answer(422), nil, plain, businessError, false},
		{"429", answer(429), nil, plain, retryable, true},
		{"500", answer(500), nil, plain, businessError, false},
		{"500 with retry_on_500", answer(500), nil, on500, retryable, true},
		{"501 with retry_on_500", answer(501), nil, on500, businessError, false},
		{"502", answer(502), nil, plain, retryable, true},
		{"503", answer(503), nil, plain, retryable, true},
		{"504", answer(504), nil, plain, retryable, true},
		{"505", answer(505), nil, plain, businessError, false},
		{"transport error", nil, transport, plain, retryable, true},
		{"timeout", nil, context.DeadlineExceeded, plain, retryable, true},
		{"token refused", nil, fmt.Errorf("%w: %w", cpiclient.ErrTokenFetch, &cpitoken.Error{Status: 401, Code: "invalid_client"}), plain, providerAuth, false},
		{"token endpoint down", nil, fmt.Errorf("%w: %w", cpiclient.ErrTokenFetch, &cpitoken.Error{Status: 503}), plain, retryable, true},
	} {
		out, breaker := classify(tc.resp, tc.err, tc.policy)
		if out != tc.out || breaker != tc.breaker {
			t.Errorf("Test %d (%s): classify = %v, breaker %v; want %v, %v", i, tc.name, out, breaker, tc.out, tc.breaker)
		}
	}
}

// almostOne is the largest float64 below 1, the top of rand.Float64.
var almostOne = math.Nextafter(1, 0)

func policy(base, cap time.Duration) catalog.Policy {
	p := catalog.DefaultPolicy()
	p.BackoffBase, p.BackoffCap = catalog.Duration(base), catalog.Duration(cap)
	return p
}

// TestBackoff_exponential_full_jitter: the ceiling doubles per attempt from
// backoff_base up to backoff_cap; the wait is drawn uniformly below it.
func TestBackoff_exponential_full_jitter(t *testing.T) {
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		base, cap time.Duration
		ceilings  []time.Duration // for attempts 1, 2, 3, …
	}{
		{"defaults", time.Second, 5 * time.Minute, []time.Duration{
			1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second,
			64 * time.Second, 128 * time.Second, 256 * time.Second, 300 * time.Second, 300 * time.Second,
		}},
		{"cap not a power of two", 3 * time.Second, 10 * time.Second, []time.Duration{
			3 * time.Second, 6 * time.Second, 10 * time.Second, 10 * time.Second,
		}},
		{"base equals cap", time.Minute, time.Minute, []time.Duration{time.Minute, time.Minute, time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := policy(tc.base, tc.cap)
			for i, ceil := range tc.ceilings {
				attempt := uint32(i + 1)
				if d := backoff(p, attempt, nil, now, func() float64 { return 0 }); d != 0 {
					t.Errorf("attempt %d, rand 0: %v, want 0", attempt, d)
				}
				d := backoff(p, attempt, nil, now, func() float64 { return almostOne })
				if d > ceil || d < ceil-time.Microsecond {
					t.Errorf("attempt %d, rand ~1: %v, want just under %v", attempt, d, ceil)
				}
				if mid := backoff(p, attempt, nil, now, func() float64 { return 0.5 }); mid != ceil/2 {
					t.Errorf("attempt %d, rand 0.5: %v, want %v", attempt, mid, ceil/2)
				}
			}
		})
	}
	p := policy(time.Second, 5*time.Minute)
	for _, attempt := range []uint32{0, 64, 1000, math.MaxUint32} {
		d := backoff(p, attempt, nil, now, func() float64 { return almostOne })
		if d > 5*time.Minute || d <= 0 {
			t.Errorf("attempt %d: %v, want within (0, cap]", attempt, d)
		}
	}
}

// TestBackoff_Retry_After: CPI's Retry-After (seconds or HTTP date) is a
// lower bound on the wait, capped at backoff_cap.
func TestBackoff_Retry_After(t *testing.T) {
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	p := policy(time.Second, 5*time.Minute)
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	for i, tc := range []struct {
		name    string
		resp    *cpiclient.Response
		attempt uint32
		rnd     float64
		want    time.Duration
	}{
		{"seconds", answer(503, "Retry-After", "120"), 1, 0, 120 * time.Second},
		{"seconds above cap", answer(429, "Retry-After", "3600"), 1, 0, 5 * time.Minute},
		{"zero seconds", answer(503, "Retry-After", "0"), 1, 0, 0},
		{"jitter above Retry-After wins", answer(503, "Retry-After", "2"), 9, 0.5, 128 * time.Second},
		{"HTTP date", answer(503, "Retry-After", date(90*time.Second)), 1, 0, 90 * time.Second},
		{"HTTP date above cap", answer(503, "Retry-After", date(24*time.Hour)), 1, 0, 5 * time.Minute},
		{"HTTP date in the past", answer(503, "Retry-After", date(-time.Minute)), 1, 0, 0},
		{"RFC 850 date", answer(503, "Retry-After", now.Add(time.Minute).Format("Monday, 02-Jan-06 15:04:05 GMT")), 1, 0, time.Minute},
		{"ANSI C date", answer(503, "Retry-After", now.Add(time.Minute).Format(time.ANSIC)), 1, 0, time.Minute},
		{"garbage", answer(503, "Retry-After", "soon"), 1, 0, 0},
		{"negative", answer(503, "Retry-After", "-5"), 1, 0, 0},
		{"fraction", answer(503, "Retry-After", "1.5"), 1, 0, 0},
		{"absent", answer(503), 1, 0, 0},
		{"no response", nil, 1, 0, 0},
	} {
		got := backoff(p, tc.attempt, tc.resp, now, func() float64 { return tc.rnd })
		if got != tc.want {
			t.Errorf("Test %d (%s): backoff = %v, want %v", i, tc.name, got, tc.want)
		}
	}
}

// TestBackoff_Retry_After_huge: a Retry-After too large for a Duration is
// still "later than the cap", never "now" (n*time.Second used to overflow).
func TestBackoff_Retry_After_huge(t *testing.T) {
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	p := policy(time.Second, 5*time.Minute)
	for _, v := range []string{"9223372037", "18446744073", "99999999999999999"} {
		got := backoff(p, 1, answer(503, "Retry-After", v), now, func() float64 { return 0 })
		if got != 5*time.Minute {
			t.Errorf("Retry-After %s: backoff = %v, want the cap", v, got)
		}
	}
}

func TestFlowURL(t *testing.T) {
	for i, tc := range []struct {
		name     string
		flow     catalog.Flow
		flowPath string
		want     string
	}{
		{"fixed address", catalog.Flow{URL: "https://t.example/http/demo/echo"}, "", "https://t.example/http/demo/echo"},
		{"wildcard with Flow-Path", catalog.Flow{URL: "https://t.example/http/orders/*", Address: "/orders/*"}, "/eu/create",
			"https://t.example/http/orders/eu/create"},
		{"wildcard address, URL without /*", catalog.Flow{URL: "https://t.example/http/orders", Address: "/orders/*"}, "/eu",
			"https://t.example/http/orders/eu"},
		{"wildcard, one-segment path", catalog.Flow{URL: "https://t.example/http/c/*"}, "/x", "https://t.example/http/c/x"},
	} {
		if got := flowURL(tc.flow, tc.flowPath); got != tc.want {
			t.Errorf("Test %d (%s): flowURL = %q, want %q", i, tc.name, got, tc.want)
		}
	}
}

// TestFlowURL_wildcard_without_Flow_Path: Flow-Path is optional; without it
// the iFlow is called at its base address, not at a literal "/*".
func TestFlowURL_wildcard_without_Flow_Path(t *testing.T) {
	got := flowURL(catalog.Flow{URL: "https://t.example/http/orders/*", Address: "/orders/*"}, "")
	if strings.Contains(got, "*") {
		t.Fatalf("flowURL = %q: CPI would be called with a literal '*' (CamelHttpPath \"*\")", got)
	}
	if got != "https://t.example/http/orders" && got != "https://t.example/http/orders/" {
		t.Fatalf("flowURL = %q", got)
	}
}

func TestHeaders_round_trip(t *testing.T) {
	if headersOf(nil) != nil {
		t.Error("no headers must give a nil map")
	}
	in := map[string][]string{"X-A": {"1", "2"}, "Content-Language": {"de"}}
	back := headersOf(headerList(in))
	if len(back) != len(in) {
		t.Fatalf("round trip = %v", back)
	}
	for k, v := range in {
		if strings.Join(back[k], ",") != strings.Join(v, ",") {
			t.Errorf("%s = %v, want %v", k, back[k], v)
		}
	}
}

// FuzzBackoff_Retry_After: whatever CPI puts in Retry-After, the wait is
// within [0, backoff_cap] and at least the header's delay when that fits.
func FuzzBackoff_Retry_After(f *testing.F) {
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	for _, s := range []string{"120", "0", "-1", "9223372037", "1e3", "Sun, 22 Nov 2026 08:01:30 GMT", "Sunday, 22-Nov-26 08:01:30 GMT", "soon", ""} {
		f.Add(s, uint32(1), 0.0)
	}
	f.Fuzz(func(t *testing.T, v string, attempt uint32, rnd float64) {
		if !(rnd >= 0 && rnd < 1) {
			t.Skip() // rand.Float64's range
		}
		p := policy(time.Second, 5*time.Minute)
		d := backoff(p, attempt, answer(503, "Retry-After", v), now, func() float64 { return rnd })
		if d < 0 || d > 5*time.Minute {
			t.Fatalf("Retry-After %q attempt %d rnd %v: backoff %v outside [0, cap]", v, attempt, rnd, d)
		}
		if ra := retryAfter(answer(503, "Retry-After", v), now); ra < 0 {
			t.Fatalf("retryAfter(%q) = %v", v, ra)
		} else if d < min(ra, 5*time.Minute) {
			t.Fatalf("Retry-After %q: backoff %v below the asked %v", v, d, ra)
		}
	})
}
