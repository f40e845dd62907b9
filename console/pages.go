package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cpibroker/cpibroker/internal/webui"
)

// overviewData is the overview page.
type overviewData struct {
	Rows                        []Row
	Series                      webui.SeriesView
	Accepted, Succeeded, Failed float64
	Backlog, Waiting            float64
	CPIMeanMS                   float64
	SampleEvery                 string
	Samples                     int
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	snap, err := scrape(r.Context(), c.api.Load().H, c.cfg.Now())
	d := overviewData{SampleEvery: c.cfg.SampleEvery.String()}
	msg := ""
	if err != nil {
		msg = "The metrics could not be read: " + err.Error()
	} else {
		d.Rows, d.Accepted, d.Succeeded, d.Failed = snap.rows, snap.accepted, snap.succeeded, snap.failed
		d.Backlog, d.Waiting = snap.backlog, snap.waiting
		if snap.cpiCount > 0 {
			d.CPIMeanMS = snap.cpiSum / snap.cpiCount * 1000
		}
	}
	ser := c.hist.series()
	d.Samples = len(ser.Accepted)
	d.Series = webui.SeriesView{Accepted: ser.Accepted, Completed: ser.Completed, Failed: ser.Failed, Backlog: ser.Backlog, CPIMeanMS: ser.CPIMeanMS}
	c.page(w, r, s, http.StatusOK, "overview", "Overview", d, msg)
}

// providersData is the providers page; Result a Test Connection or
// Discover answer just made.
type providersData struct {
	Items  []map[string]any
	Result map[string]any
	Action string
}

func (c *Console) providers(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	items, msg, ok := c.list(w, r, s, "/admin/v1/providers")
	if !ok {
		return
	}
	c.page(w, r, s, http.StatusOK, "providers", "Providers", providersData{Items: items}, msg)
}

func (c *Console) providerAction(w http.ResponseWriter, r *http.Request, s *webui.Session, action, label string) {
	id := r.PathValue("id")
	resp := c.call(r, s, http.MethodPost, "/admin/v1/providers/"+url.PathEscape(id)+"/"+action, nil)
	if c.expired(w, r, resp) {
		return
	}
	items, msg, ok := c.list(w, r, s, "/admin/v1/providers")
	if !ok {
		return
	}
	d := providersData{Items: items, Action: label + " of " + id}
	if resp.OK() {
		_ = resp.Decode(&d.Result)
	} else {
		msg = label + " failed: " + resp.Problem()
	}
	c.page(w, r, s, http.StatusOK, "providers", "Providers", d, msg)
}

func (c *Console) providerTest(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	c.providerAction(w, r, s, "test", "Test Connection")
}

// discoverTimeout bounds a discovery the console started.
const discoverTimeout = 3 * time.Minute

// discoverRun is a discovery the console started: Result (or Problem)
// when it ended.
type discoverRun struct {
	done    bool
	result  map[string]any
	problem string
}

// providerDiscover starts a discovery without waiting for it and shows its
// progress page.
func (c *Console) providerDiscover(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	id := r.PathValue("id")
	path := "/admin/v1/providers/" + url.PathEscape(id)
	resp := c.call(r, s, http.MethodGet, path, nil)
	if c.expired(w, r, resp) {
		return
	}
	if !resp.OK() {
		back(w, r, s, Base+"/providers", "Discovery failed: "+resp.Problem())
		return
	}
	c.runsMu.Lock()
	if run := c.runs[id]; run == nil || run.done {
		run = &discoverRun{}
		c.runs[id] = run
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), discoverTimeout)
		from, token, api := r.Clone(ctx), s.Token, c.api.Load()
		go func() {
			defer cancel()
			resp := api.JSON(from, token, http.MethodPost, path+"/discover", nil)
			var res map[string]any
			problem := ""
			if resp.OK() {
				_ = resp.Decode(&res)
			} else {
				problem = resp.Problem()
			}
			c.runsMu.Lock()
			run.done, run.result, run.problem = true, res, problem
			c.runsMu.Unlock()
		}()
	}
	c.runsMu.Unlock()
	http.Redirect(w, r, Base+"/providers/"+url.PathEscape(id)+"/discovery", http.StatusSeeOther)
}

// discoveryData is the progress page of a discovery the console started.
type discoveryData struct {
	Provider string
	Running  map[string]any
	Result   map[string]any
	Problem  string
	Done     bool
}

func (d discoveryData) refresh() int {
	if d.Done {
		return 0
	}
	return 1
}

// providerDiscovery shows the progress of the provider's discovery (counts
// so far, read from the admin API), then its result.
func (c *Console) providerDiscovery(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	id := r.PathValue("id")
	c.runsMu.Lock()
	run := c.runs[id]
	var d discoveryData
	if run != nil {
		d = discoveryData{Done: run.done, Result: run.result, Problem: run.problem}
	}
	c.runsMu.Unlock()
	if run == nil {
		back(w, r, s, Base+"/providers", "No discovery of "+id+" was started here.")
		return
	}
	d.Provider = id
	if !d.Done {
		resp := c.call(r, s, http.MethodGet, "/admin/v1/providers/"+url.PathEscape(id), nil)
		if c.expired(w, r, resp) {
			return
		}
		var p struct {
			Discovery struct {
				Running map[string]any `json:"running"`
			} `json:"discovery"`
		}
		if resp.OK() {
			_ = resp.Decode(&p)
		}
		d.Running = p.Discovery.Running
	}
	c.page(w, r, s, http.StatusOK, "discovery", "Discovery of "+id, d, "")
}

func (c *Console) flows(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	items, msg, ok := c.list(w, r, s, "/admin/v1/flows?limit=1000")
	if !ok {
		return
	}
	c.page(w, r, s, http.StatusOK, "flows", "Flows", items, msg)
}

func (c *Console) flowStatus(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	id, status := r.PathValue("id"), r.PostFormValue("status")
	resp := c.call(r, s, http.MethodPatch, "/admin/v1/flows/"+url.PathEscape(id), map[string]string{"status": status})
	if c.expired(w, r, resp) {
		return
	}
	if !resp.OK() {
		back(w, r, s, Base+"/flows", "Not changed: "+resp.Problem())
		return
	}
	back(w, r, s, Base+"/flows", fmt.Sprintf("Flow %s is now %s.", id, status))
}

// flowData is a flow's page with its policy as editable JSON.
type flowData struct {
	Flow   map[string]any
	Policy string
}

func (c *Console) flow(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	c.flowPage(w, r, s, "", "")
}

func (c *Console) flowPage(w http.ResponseWriter, r *http.Request, s *webui.Session, policy, msg string) {
	id := r.PathValue("id")
	resp := c.call(r, s, http.MethodGet, "/admin/v1/flows/"+url.PathEscape(id), nil)
	if c.expired(w, r, resp) {
		return
	}
	var f map[string]any
	if !resp.OK() || resp.Decode(&f) != nil {
		c.page(w, r, s, resp.Status, "message", "Flow "+id, nil, resp.Problem())
		return
	}
	if policy == "" {
		policy = webui.Funcs["json"].(func(any) string)(f["policy"])
	}
	c.page(w, r, s, 0, "flow", "Flow "+id, flowData{Flow: f, Policy: policy}, msg)
}

func (c *Console) flowPolicy(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	id, text := r.PathValue("id"), r.PostFormValue("policy")
	pol, err := raw(text)
	if err != nil || pol == nil {
		c.flowPage(w, r, s, text, "The policy must be a JSON object.")
		return
	}
	resp := c.call(r, s, http.MethodPatch, "/admin/v1/flows/"+url.PathEscape(id), map[string]any{"policy": pol})
	if c.expired(w, r, resp) {
		return
	}
	if !resp.OK() {
		c.flowPage(w, r, s, text, "The policy was refused: "+resp.Problem())
		return
	}
	back(w, r, s, Base+"/flows/"+url.PathEscape(id), "Policy saved.")
}

// clientsData is the clients page; Created a client just made or a
// secret just rotated, with its secrets shown this once.
type clientsData struct {
	Items   []map[string]any
	Created map[string]any
}

func (c *Console) clients(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	items, msg, ok := c.list(w, r, s, "/admin/v1/clients?limit=1000")
	if !ok {
		return
	}
	c.page(w, r, s, http.StatusOK, "clients", "Clients", clientsData{Items: items}, msg)
}

func (c *Console) clientCreate(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	body := map[string]any{
		"id": strings.TrimSpace(r.PostFormValue("id")), "name": strings.TrimSpace(r.PostFormValue("name")),
		"roles": fields(r.PostFormValue("roles")), "grants": fields(r.PostFormValue("grants")),
		"callback_prefixes": fields(r.PostFormValue("callback_prefixes")),
	}
	resp := c.call(r, s, http.MethodPost, "/admin/v1/clients", body)
	if c.expired(w, r, resp) {
		return
	}
	items, msg, ok := c.list(w, r, s, "/admin/v1/clients?limit=1000")
	if !ok {
		return
	}
	d := clientsData{Items: items}
	if resp.OK() {
		_ = resp.Decode(&d.Created)
	} else {
		msg = "The client was not created: " + resp.Problem()
	}
	c.page(w, r, s, 0, "clients", "Clients", d, msg)
}

// clientData is one client's page.
type clientData struct {
	Client   map[string]any
	Quota    string
	Webhooks string
	Grants   string
	Prefixes string
	Secrets  map[string]any
}

func (c *Console) client(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	c.clientPage(w, r, s, nil, "")
}

func (c *Console) clientPage(w http.ResponseWriter, r *http.Request, s *webui.Session, secrets map[string]any, msg string) {
	id := r.PathValue("id")
	resp := c.call(r, s, http.MethodGet, "/admin/v1/clients/"+url.PathEscape(id), nil)
	if c.expired(w, r, resp) {
		return
	}
	var cl map[string]any
	if !resp.OK() || resp.Decode(&cl) != nil {
		c.page(w, r, s, resp.Status, "message", "Client "+id, nil, resp.Problem())
		return
	}
	j := webui.Funcs["json"].(func(any) string)
	d := clientData{Client: cl, Webhooks: j(cl["webhooks"]), Secrets: secrets,
		Grants: joinAny(cl["grants"]), Prefixes: joinAny(cl["callback_prefixes"])}
	if q, ok := cl["quota"]; ok && q != nil {
		d.Quota = j(q)
	}
	c.page(w, r, s, 0, "client", "Client "+id, d, msg)
}

func joinAny(v any) string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		out = append(out, fmt.Sprint(x))
	}
	return strings.Join(out, ", ")
}

func (c *Console) clientPatch(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	id := r.PathValue("id")
	body := map[string]any{
		"name": strings.TrimSpace(r.PostFormValue("name")), "enabled": r.PostFormValue("enabled") == "on",
		"grants": fields(r.PostFormValue("grants")), "callback_prefixes": fields(r.PostFormValue("callback_prefixes")),
	}
	for _, k := range []string{"quota", "webhooks"} {
		v, err := raw(r.PostFormValue(k))
		if err != nil {
			c.clientPage(w, r, s, nil, k+": "+err.Error())
			return
		}
		if v != nil {
			body[k] = v
		}
	}
	resp := c.call(r, s, http.MethodPatch, "/admin/v1/clients/"+url.PathEscape(id), body)
	if c.expired(w, r, resp) {
		return
	}
	if !resp.OK() {
		c.clientPage(w, r, s, nil, "Not saved: "+resp.Problem())
		return
	}
	back(w, r, s, Base+"/clients/"+url.PathEscape(id), "Saved.")
}

func (c *Console) clientRotate(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	id := r.PathValue("id")
	which := "rotate-secret"
	if r.PostFormValue("which") == "webhook" {
		which = "rotate-webhook-secret"
	}
	resp := c.call(r, s, http.MethodPost, "/admin/v1/clients/"+url.PathEscape(id)+"/"+which, nil)
	if c.expired(w, r, resp) {
		return
	}
	if !resp.OK() {
		c.clientPage(w, r, s, nil, "Not rotated: "+resp.Problem())
		return
	}
	var secrets map[string]any
	_ = resp.Decode(&secrets)
	c.clientPage(w, r, s, secrets, "")
}

func (c *Console) clientDelete(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	id := r.PathValue("id")
	resp := c.call(r, s, http.MethodDelete, "/admin/v1/clients/"+url.PathEscape(id), nil)
	if c.expired(w, r, resp) {
		return
	}
	if !resp.OK() {
		back(w, r, s, Base+"/clients/"+url.PathEscape(id), "Not deleted: "+resp.Problem())
		return
	}
	back(w, r, s, Base+"/clients", "Client "+id+" deleted.")
}

// jobsData is the job search.
type jobsData struct {
	Items []map[string]any
	Q     map[string]string
}

func (c *Console) jobs(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	if id := strings.TrimSpace(r.FormValue("id")); id != "" {
		http.Redirect(w, r, Base+"/jobs/"+url.PathEscape(id), http.StatusSeeOther)
		return
	}
	items, msg, ok := c.list(w, r, s, "/admin/v1/jobs"+query(r, "client", "flow", "status", "since", "until"))
	if !ok {
		return
	}
	q := map[string]string{}
	for _, k := range []string{"client", "flow", "status", "since", "until"} {
		q[k] = r.FormValue(k)
	}
	c.page(w, r, s, 0, "jobs", "Jobs", jobsData{Items: items, Q: q}, msg)
}

// jobData is a job's page.
type jobData struct {
	Job        map[string]any
	JSON       string
	Deliveries []map[string]any
	Attempts   []map[string]any
	TraceURL   string
	Terminal   bool
}

func (d jobData) refresh() int {
	if d.Terminal {
		return 0
	}
	return 2
}

func terminal(status any) bool {
	switch status {
	case "succeeded", "failed", "canceled":
		return true
	}
	return false
}

func (c *Console) job(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	id := r.PathValue("id")
	resp := c.call(r, s, http.MethodGet, "/admin/v1/jobs/"+url.PathEscape(id), nil)
	if c.expired(w, r, resp) {
		return
	}
	var j map[string]any
	if !resp.OK() || resp.Decode(&j) != nil {
		c.page(w, r, s, resp.Status, "message", "Job "+id, nil, resp.Problem())
		return
	}
	dels, msg, ok := c.list(w, r, s, "/admin/v1/jobs/"+url.PathEscape(id)+"/deliveries")
	if !ok {
		return
	}
	atts, amsg, ok := c.list(w, r, s, "/admin/v1/jobs/"+url.PathEscape(id)+"/attempts")
	if !ok {
		return
	}
	if msg == "" {
		msg = amsg
	}
	d := jobData{Job: j, JSON: webui.Funcs["json"].(func(any) string)(j), Deliveries: dels, Attempts: atts, Terminal: terminal(j["status"])}
	trace, _ := j["trace_id"].(string)
	for _, a := range dels {
		if t, _ := a["trace_id"].(string); trace == "" && t != "" {
			trace = t
		}
	}
	d.TraceURL = c.cfg.TraceURL(trace)
	c.page(w, r, s, http.StatusOK, "job", "Job "+id, d, msg)
}

func (c *Console) jobResend(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	id := r.PathValue("id")
	resp := c.call(r, s, http.MethodPost, "/admin/v1/jobs/"+url.PathEscape(id)+"/deliveries/resend", nil)
	if c.expired(w, r, resp) {
		return
	}
	msg := "Callbacks queued again."
	if !resp.OK() {
		msg = "Not resent: " + resp.Problem()
	}
	back(w, r, s, Base+"/jobs/"+url.PathEscape(id), msg)
}

// dlqData is the DLQ page.
type dlqData struct {
	Items []map[string]any
	Q     map[string]string
}

var dlqFilters = []string{"client", "flow", "kind", "code", "job"}

func (c *Console) dlq(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	items, msg, ok := c.list(w, r, s, "/admin/v1/dlq"+query(r, dlqFilters...))
	if !ok {
		return
	}
	q := map[string]string{}
	for _, k := range dlqFilters {
		q[k] = r.FormValue(k)
	}
	c.page(w, r, s, 0, "dlq", "Dead-letter queue", dlqData{Items: items, Q: q}, msg)
}

// dlqReplay replays the ticked entries (value "<entry id>:<job id>"), or
// every entry of the filter, then shows their jobs' progress.
func (c *Console) dlqReplay(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	_ = r.ParseForm()
	body := map[string]any{}
	jobs := url.Values{}
	if r.PostFormValue("all") == "" {
		var ids []string
		for _, v := range r.PostForm["entry"] {
			id, job, _ := strings.Cut(v, ":")
			ids = append(ids, id)
			if job != "" {
				jobs.Add("job", job)
			}
		}
		if len(ids) == 0 {
			back(w, r, s, Base+"/dlq", "Tick the entries to replay.")
			return
		}
		body["ids"] = ids
	} else {
		for _, k := range dlqFilters {
			if v := strings.TrimSpace(r.PostFormValue(k)); v != "" {
				body[k] = v
			}
		}
		for _, j := range r.PostForm["entry_job"] {
			jobs.Add("job", j)
		}
	}
	resp := c.call(r, s, http.MethodPost, "/admin/v1/dlq/replay", body)
	if c.expired(w, r, resp) {
		return
	}
	if !resp.OK() {
		back(w, r, s, Base+"/dlq", "Replay failed: "+resp.Problem())
		return
	}
	var res struct {
		Replayed []string `json:"replayed"`
		Skipped  []struct {
			ID, Reason string
		} `json:"skipped"`
	}
	_ = resp.Decode(&res)
	s.Flash(fmt.Sprintf("%d replayed, %d skipped.", len(res.Replayed), len(res.Skipped)))
	http.Redirect(w, r, Base+"/dlq/progress?"+jobs.Encode(), http.StatusSeeOther)
}

// progressData follows replayed jobs until they end.
type progressData struct {
	Jobs []map[string]any
	Done int
}

func (d progressData) refresh() int {
	if d.Done == len(d.Jobs) {
		return 0
	}
	return 1
}

func (c *Console) dlqProgress(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	var d progressData
	seen := map[string]bool{}
	for _, id := range r.URL.Query()["job"] {
		if seen[id] || len(d.Jobs) >= 200 {
			continue
		}
		seen[id] = true
		resp := c.call(r, s, http.MethodGet, "/admin/v1/jobs/"+url.PathEscape(id), nil)
		if c.expired(w, r, resp) {
			return
		}
		j := map[string]any{"id": id, "status": "unknown"}
		if resp.OK() {
			_ = resp.Decode(&j)
		}
		if terminal(j["status"]) {
			d.Done++
		}
		d.Jobs = append(d.Jobs, j)
	}
	c.page(w, r, s, http.StatusOK, "progress", "Replay progress", d, "")
}

// breakersData is the breakers page.
type breakersData struct {
	Items, Endpoints []map[string]any
}

func (c *Console) breakers(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	resp := c.call(r, s, http.MethodGet, "/admin/v1/breakers", nil)
	if c.expired(w, r, resp) {
		return
	}
	var d struct {
		Items     []map[string]any `json:"items"`
		Endpoints []map[string]any `json:"endpoints"`
	}
	msg := ""
	if !resp.OK() || resp.Decode(&d) != nil {
		msg = resp.Problem()
	}
	c.page(w, r, s, http.StatusOK, "breakers", "Circuit breakers", breakersData{Items: d.Items, Endpoints: d.Endpoints}, msg)
}

func (c *Console) breakerReset(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	id := r.PathValue("id")
	resp := c.call(r, s, http.MethodPost, "/admin/v1/breakers/"+url.PathEscape(id)+"/reset", nil)
	if c.expired(w, r, resp) {
		return
	}
	msg := "Breaker of " + id + " reset."
	if !resp.OK() {
		msg = "Not reset: " + resp.Problem()
	}
	back(w, r, s, Base+"/breakers", msg)
}

// auditData is the audit page.
type auditData struct {
	Items []map[string]any
	Q     map[string]string
	Next  string
}

func (c *Console) audit(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	names := []string{"actor", "action", "since", "until"}
	resp := c.call(r, s, http.MethodGet, "/admin/v1/audit"+query(r, append(names, "cursor", "limit")...), nil)
	if c.expired(w, r, resp) {
		return
	}
	var pg struct {
		Items []map[string]any `json:"items"`
		Next  string           `json:"next_cursor"`
	}
	msg := ""
	if !resp.OK() || resp.Decode(&pg) != nil {
		msg = resp.Problem()
	}
	q := map[string]string{}
	more := url.Values{}
	for _, k := range names {
		q[k] = r.FormValue(k)
		if q[k] != "" {
			more.Set(k, q[k])
		}
	}
	d := auditData{Items: pg.Items, Q: q}
	if pg.Next != "" {
		more.Set("cursor", pg.Next)
		d.Next = Base + "/audit?" + more.Encode()
	}
	c.page(w, r, s, 0, "audit", "Audit", d, msg)
}
