package console_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// chromium finds a Chromium binary: $CPIB_CHROMIUM, else the usual names.
func chromium() string {
	if p := os.Getenv("CPIB_CHROMIUM"); p != "" {
		return p
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// artifacts is where screenshots go: $CPIB_BROWSER_ARTIFACTS (the README's
// docs/screenshots are made with it), else the test's temp dir.
func artifacts(t *testing.T) string {
	if d := os.Getenv("CPIB_BROWSER_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// ui drives one shared headless Chromium.
type ui struct {
	t    *testing.T
	ctx  context.Context
	dir  string
	shot int
}

func (u *ui) run(actions ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		u.t.Fatalf("browser: %v", err)
	}
}

// value runs one action that returns a value.
func value[T any](u *ui, a chromedp.Action[T]) T {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		u.t.Fatalf("browser: %v", err)
	}
	return v
}

// eval evaluates js; an error (a navigation in progress) is returned.
func eval[T any](u *ui, js string) (T, error) {
	ctx, cancel := context.WithTimeout(u.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](js))
}

// waitText waits until the element's text contains want (pages that
// follow a job reload themselves with a meta refresh).
func (u *ui) waitText(sel, want string) {
	u.t.Helper()
	testkit.Eventually(u.t, 30*time.Second, fmt.Sprintf("%s to show %q", sel, want), func() bool {
		s, err := eval[string](u, fmt.Sprintf(`(document.querySelector(%q)||{}).textContent||""`, sel))
		return err == nil && strings.Contains(s, want)
	})
}

// screenshot saves the viewport as name.png.
func (u *ui) screenshot(name string) {
	u.t.Helper()
	png := value(u, chromedp.CaptureScreenshot())
	p := filepath.Join(u.dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		u.t.Fatal(err)
	}
	u.t.Logf("screenshot %s", p)
}

// a11yJS checks the page's accessibility basics and returns the problems:
// every visible form control has a label or an accessible name, every
// button has a name, the page has one h1 and a lang, and text keeps a
// WCAG AA contrast ratio (4.5:1) against its effective background.
const a11yJS = `(() => {
  const bad = [];
  const visible = (e) => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length);
  for (const e of document.querySelectorAll("input, select, textarea")) {
    if (e.type === "hidden" || !visible(e)) continue;
    if (!(e.labels && e.labels.length) && !e.getAttribute("aria-label")) bad.push("unlabelled " + e.outerHTML.slice(0, 80));
  }
  for (const b of document.querySelectorAll("button, a")) {
    if (visible(b) && !(b.textContent.trim() || b.getAttribute("aria-label"))) bad.push("nameless " + b.outerHTML.slice(0, 80));
  }
  if (document.querySelectorAll("h1").length !== 1) bad.push("h1 count " + document.querySelectorAll("h1").length);
  if (!document.documentElement.lang) bad.push("no lang");
  const rgb = (s) => { const m = s.match(/[\d.]+/g).map(Number); return { r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1 }; };
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const bg = (e) => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.a > 0.5) return c; } return { r: 255, g: 255, b: 255, a: 1 }; };
  for (const e of document.querySelectorAll("p, td, th, a, button, label, dt, dd, h1, h2, span, strong, code, figcaption")) {
    if (!visible(e) || !e.textContent.trim()) continue;
    const l1 = lum(rgb(getComputedStyle(e).color)), l2 = lum(bg(e));
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    if (ratio < 4.5) bad.push("contrast " + ratio.toFixed(2) + " " + e.tagName + " " + e.textContent.trim().slice(0, 30));
  }
  return bad.slice(0, 10);
})()`

// checkA11y runs a11yJS and the keyboard check: the first Tab focuses the
// skip link, and following it moves focus to the main content.
func (u *ui) checkA11y(page string) {
	u.t.Helper()
	if bad := value(u, chromedp.Evaluate[[]string](a11yJS)); len(bad) > 0 {
		u.t.Errorf("%s: accessibility: %v", page, bad)
	}
	value(u, chromedp.Evaluate[string](`document.activeElement && document.activeElement.blur(); window.scrollTo(0,0); ""`))
	u.run(chromedp.KeyEvent(kb.Tab))
	focused := value(u, chromedp.Evaluate[string](`document.activeElement.className + "|" + document.activeElement.textContent`))
	if !strings.HasPrefix(focused, "skip|") {
		u.t.Errorf("%s: the first Tab focuses %q, want the skip link", page, focused)
	}
}

// signIn fills a sign-in form by its labels' inputs.
func (u *ui) signIn(url, id, secret string) {
	u.t.Helper()
	u.run(chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.ID("client_id")),
		chromedp.SendKeys(chromedp.ID("client_id"), id),
		chromedp.SendKeys(chromedp.ID("client_secret"), secret),
		chromedp.Click(chromedp.CSS(`main button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("nav")))
}

// rows counts the rows of a table body that hold data.
func (u *ui) rows(sel string) int {
	n, err := eval[int](u, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
	if err != nil {
		return -1
	}
	return n
}

// The portal and the console in a real browser: a partner signs in, runs
// a job from "try it" to its result and resends its webhook; an operator
// signs in, disables a flow, opens the job page and replays a DLQ entry
// with its progress. Screenshots are saved; every page visited passes the
// accessibility checks.
func TestBrowser(t *testing.T) {
	bin := chromium()
	if bin == "" {
		t.Skip("browser tests skipped: no Chromium found (apt-get install chromium, or set CPIB_CHROMIUM to the binary)")
	}
	// Charts sample every second, so the overview has a shape by the time
	// the operator looks.
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) { c.Console.SampleEvery = time.Second }})
	base := sys.BaseURL
	a := admin(t, sys)
	traffic := func(n int) {
		for i := range n {
			sys.Partner().Submit([]string{"demo-echo", "demo-slow"}[i%2], "text/plain", []byte("load"), nil)
		}
	}
	traffic(6)

	// The partner's webhook: a receiver that always answers 204.
	var (
		mu   sync.Mutex
		hits = map[string]int{} // by webhook-id
	)
	recv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.Header.Get("webhook-id")]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})}
	hookURL := serve(t, recv) + "/hooks/cpib"
	call(t, a, http.MethodPatch, "/admin/v1/clients/demo-partner", map[string]any{"webhooks": []map[string]any{
		{"id": "wh-1", "url": hookURL, "events": []string{"job.succeeded", "job.failed"}, "enabled": true}}}, http.StatusOK)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1100, 760))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	// The first run starts the browser; it must not have a timeout of its
	// own (that would end the browser with it).
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	u := &ui{t: t, ctx: bctx, dir: artifacts(t)}
	// Opening the console starts its sampling.
	u.run(chromedp.Navigate(base+"/console/signin"), chromedp.WaitVisible(chromedp.ID("client_id")))

	// Portal: sign in, the flow's docs, try it, the result, a resend.
	u.signIn(base+"/portal/signin", sys.Creds.Partner.ClientID, sys.Creds.Partner.ClientSecret)
	u.checkA11y("portal flows")
	u.run(chromedp.Navigate(base+"/portal/flows/demo-echo"), chromedp.WaitVisible(chromedp.ID("body")))
	u.screenshot("portal-flow")
	u.checkA11y("portal flow")
	u.run(chromedp.SetValue(chromedp.ID("body"), `{"order":42,"from":"portal"}`),
		chromedp.Click(chromedp.CSS(`#try ~ form button[type="submit"], section[aria-labelledby="try"] button`)))
	u.waitText("#job-status", "succeeded")
	u.waitText("#job-result", `"from":"portal"`)
	jobURL := value(u, chromedp.Location())
	jobID := jobURL[strings.LastIndex(jobURL, "/")+1:]
	testkit.Eventually(t, 30*time.Second, "the webhook delivery listed", func() bool {
		_ = chromedp.Do(u.ctx, chromedp.Reload())
		return u.rows("#deliveries td.good") == 1
	})
	u.screenshot("portal-job")
	u.checkA11y("portal job")
	traffic(4)
	u.run(chromedp.Click(chromedp.ID("resend")))
	testkit.Eventually(t, 30*time.Second, "the resent delivery listed", func() bool {
		_ = chromedp.Do(u.ctx, chromedp.Reload())
		return u.rows("#deliveries td.good") == 2
	})
	mu.Lock()
	n := hits["evt_"+jobID+"_1"]
	mu.Unlock()
	if n != 2 {
		t.Fatalf("the receiver got %d deliveries, want 2", n)
	}

	// A job that fails into the DLQ: demo-flaky fails every call and gives
	// up after one attempt.
	call(t, a, http.MethodPatch, "/admin/v1/flows/demo-flaky", map[string]any{"policy": map[string]any{"max_attempts": 1}}, http.StatusOK)
	if err := sys.Sim.SetFaults("Flaky", cpisim.Faults{ErrorRate: 1, ErrorStatus: http.StatusServiceUnavailable}); err != nil {
		t.Fatal(err)
	}
	failed := sys.Partner().Submit("demo-flaky", "text/plain", []byte("again"), nil)
	var fj testkit.Job
	failed.JSON(t, &fj)
	if j := sys.Partner().WaitJob(fj.ID, 30*time.Second); j.Status != "failed" {
		t.Fatalf("flaky job %+v", j)
	}
	if err := sys.Sim.SetFaults("Flaky", cpisim.Faults{}); err != nil {
		t.Fatal(err)
	}

	// Console: sign in, overview, disable a flow, the job page, DLQ replay.
	u.signIn(base+"/console/signin", sys.Creds.Admin.ClientID, sys.Creds.Admin.ClientSecret)
	u.run(chromedp.WaitVisible(chromedp.CSS(".charts")))
	u.screenshot("console-overview")
	u.checkA11y("console overview")
	u.run(chromedp.Navigate(base+"/console/flows"), chromedp.WaitVisible(chromedp.ID("status-demo-slow")),
		chromedp.Click(chromedp.CSS(`button[aria-label="Disable demo-slow"]`)))
	u.waitText("#status-demo-slow", "disabled")
	u.waitText(".flash", "demo-slow is now disabled")
	u.checkA11y("console flows")
	if f, _ := sys.Broker.Catalog.Flow("demo-slow"); f.Status != "disabled" {
		t.Fatalf("demo-slow is %s after the console disabled it", f.Status)
	}
	u.run(chromedp.Navigate(base+"/console/jobs/"+jobID), chromedp.WaitVisible(chromedp.ID("job-status")))
	u.waitText("#job-status", "succeeded")
	u.screenshot("console-job")
	u.checkA11y("console job")
	u.run(chromedp.Navigate(base+"/console/dlq?kind=job"), chromedp.WaitVisible(chromedp.CSS(`input[name="entry"]`)))
	u.checkA11y("console dlq")
	u.run(chromedp.Click(chromedp.CSS(`input[name="entry"][value$=":` + fj.ID + `"]`)))
	u.run(chromedp.Click(chromedp.Search(`//button[normalize-space()="Replay selected"]`)))
	u.waitText("#progress", "1 of 1 replayed jobs finished")
	if j := sys.Partner().WaitJob(fj.ID, 30*time.Second); j.Status != "succeeded" || j.Run != 2 {
		t.Fatalf("replayed job %+v", j)
	}
	u.checkA11y("console replay progress")
	for _, p := range []string{"/console/providers", "/console/clients", "/console/breakers", "/console/audit", "/portal/code", "/portal/webhooks", "/portal/jobs"} {
		u.run(chromedp.Navigate(base+p), chromedp.WaitVisible(chromedp.CSS("main")))
		u.checkA11y(p)
	}
}
