package console_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// TestConsoleDiscoverProgress: Discover answers at once with a redirect to
// a progress page that refreshes every second and shows the pages,
// artifacts and entry points read so far from a large tenant (whose API is
// held mid-read), then the result without refreshing any more.
func TestConsoleDiscoverProgress(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	base := sys.BaseURL
	sim, err := cpisim.New(cpisim.Config{ODataPageSize: 50})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range cpisim.GeneratedIFlows(200) {
		if err := sim.Deploy(f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	// The tenant's API answers through a gate that holds the third read
	// until the test has seen the progress page.
	blocked, release := make(chan struct{}), make(chan struct{})
	var reads atomic.Int32
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/api/v1/") && reads.Add(1) == 3 {
			close(blocked)
			<-release
		}
		sim.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(gate.Close)
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	a := admin(t, sys)
	call(t, a, http.MethodPost, "/admin/v1/providers", map[string]any{
		"id": "big", "type": "cpi",
		"runtime": map[string]any{"url": sim.URL(), "tokenurl": sim.TokenURL(), "clientid": cpisim.DefaultRuntimeClientID, "clientsecret": cpisim.DefaultRuntimeClientSecret},
		"api":     map[string]any{"url": gate.URL, "tokenurl": sim.TokenURL(), "clientid": cpisim.DefaultAPIClientID, "clientsecret": cpisim.DefaultAPIClientSecret},
	}, http.StatusCreated)

	c := browser(t)
	if resp := post(t, c, base+"/console/signin", url.Values{"client_id": {sys.Creds.Admin.ClientID}, "client_secret": {sys.Creds.Admin.ClientSecret}}, base); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	_, page := get(t, c, base+"/console/providers")
	resp := post(t, c, base+"/console/providers/big/discover", url.Values{"csrf": {csrfOf(t, page)}}, base)
	progressURL := base + "/console/providers/big/discovery"
	if resp.StatusCode != http.StatusSeeOther || base+resp.Header.Get("Location") != progressURL {
		t.Fatalf("discover: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	select {
	case <-blocked:
	case <-time.After(60 * time.Second):
		t.Fatal("the tenant was never read")
	}
	running := regexp.MustCompile(`is running: [1-9][0-9]* pages read, ([0-9]+) artifacts and 0 entry points seen so far; this page refreshes every second`)
	// The page and the admin API show the same progress (the API next to
	// its unchanged fields); both are read in one poll, so a progress write
	// between the two reads cannot fail the check.
	type provider struct {
		ID        string `json:"id"`
		Discovery struct {
			Running struct {
				Pages     int       `json:"pages"`
				Artifacts int       `json:"artifacts"`
				StartedAt time.Time `json:"started_at"`
			} `json:"running"`
		} `json:"discovery"`
	}
	var prov provider
	testkit.Eventually(t, 10*time.Second, "the progress page and the admin API with counts", func() bool {
		resp, page = get(t, c, progressURL)
		m := running.FindStringSubmatch(page)
		if resp.StatusCode != http.StatusOK || m == nil || m[1] == "0" {
			return false
		}
		prov = provider{}
		call(t, a, http.MethodGet, "/admin/v1/providers/big", nil, http.StatusOK).JSON(t, &prov)
		r := prov.Discovery.Running
		return prov.ID == "big" && r.Pages >= 1 && r.Artifacts >= 50 && !r.StartedAt.IsZero()
	})
	if !strings.Contains(page, `<meta http-equiv="refresh" content="1">`) {
		t.Fatal("the progress page does not refresh while discovery runs")
	}
	close(release)
	released = true
	testkit.Eventually(t, 60*time.Second, "the result on the progress page", func() bool {
		_, page = get(t, c, progressURL)
		return strings.Contains(page, "Discovery of big finished.")
	})
	if !strings.Contains(page, "Found 200 endpoints: 200 added") && !strings.Contains(page, "Found 200 endpoints: 0 added") {
		t.Fatalf("result: %s", page)
	}
	if strings.Contains(page, `http-equiv="refresh"`) {
		t.Fatal("the finished page still refreshes")
	}
}
