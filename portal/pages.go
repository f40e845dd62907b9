package portal

import (
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/cpibroker/cpibroker/internal/webui"
)

type handler = webui.Handler

// signedIn wraps a page: without a live session it goes to sign-in; a
// form post must carry the session's CSRF token and come from this origin.
func (p *Portal) signedIn(h handler) http.HandlerFunc { return p.gate.SignedIn(h) }

var nav = []struct{ path, label string }{
	{"/", "Flows"}, {"/jobs", "Jobs and events"}, {"/webhooks", "Webhooks"}, {"/code", "Code snippets"},
}

func (p *Portal) page(w http.ResponseWriter, r *http.Request, s *webui.Session, status int, name, title string, data any, errMsg string) {
	pg := webui.Page{App: "Portal", Base: Base, Title: title, Client: s.Client, CSRF: s.CSRF,
		Flash: s.TakeFlash(), Error: errMsg, Data: data}
	section := "/" + strings.SplitN(strings.TrimPrefix(r.URL.Path, Base+"/"), "/", 2)[0]
	if section == "/flows" {
		section = "/"
	}
	for _, n := range nav {
		pg.Nav = append(pg.Nav, webui.Nav{Href: Base + n.path, Label: n.label, Current: section == n.path})
	}
	if status == 0 {
		status = http.StatusOK
		if errMsg != "" {
			status = http.StatusBadRequest
		}
	}
	if rf, ok := data.(interface{ refresh() int }); ok {
		pg.Refresh = rf.refresh()
	}
	p.render.Render(w, status, name, pg)
}

func (p *Portal) call(r *http.Request, s *webui.Session, method, path string) webui.Response {
	return p.api.Load().Do(r, s.Token, method, path, nil, "")
}

func (p *Portal) expired(w http.ResponseWriter, r *http.Request, resp webui.Response) bool {
	if resp.Status != http.StatusUnauthorized {
		return false
	}
	p.sessions.End(w, r)
	http.Redirect(w, r, Base+"/signin", http.StatusSeeOther)
	return true
}

func (p *Portal) routes() {
	m := http.NewServeMux()
	m.Handle("GET "+Base+"/static/", webui.Static(Base+"/static/"))
	m.HandleFunc("GET "+Base+"/signin", p.gate.SignInPage)
	m.HandleFunc("POST "+Base+"/signin", p.gate.SignIn)
	m.HandleFunc("POST "+Base+"/signout", p.signedIn(func(w http.ResponseWriter, r *http.Request, _ *webui.Session) {
		p.sessions.End(w, r)
		http.Redirect(w, r, Base+"/signin", http.StatusSeeOther)
	}))
	m.HandleFunc("GET "+Base+"/{$}", p.signedIn(p.flows))
	m.HandleFunc("GET "+Base+"/flows/{id}", p.signedIn(p.flow))
	m.HandleFunc("POST "+Base+"/flows/{id}/try", p.signedIn(p.try))
	m.HandleFunc("GET "+Base+"/jobs", p.signedIn(p.jobs))
	m.HandleFunc("GET "+Base+"/jobs/{id}", p.signedIn(p.job))
	m.HandleFunc("POST "+Base+"/jobs/{id}/resend", p.signedIn(p.resend))
	m.HandleFunc("GET "+Base+"/webhooks", p.signedIn(p.webhooks))
	m.HandleFunc("GET "+Base+"/code", p.signedIn(p.code))
	m.HandleFunc(Base+"/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such page", http.StatusNotFound)
	})
	p.mux = m
}

func (p *Portal) list(w http.ResponseWriter, r *http.Request, s *webui.Session, path string) ([]map[string]any, string, string, bool) {
	resp := p.call(r, s, http.MethodGet, path)
	if p.expired(w, r, resp) {
		return nil, "", "", false
	}
	if !resp.OK() {
		return nil, "", resp.Problem(), true
	}
	var pg struct {
		Items []map[string]any `json:"items"`
		Next  string           `json:"next_cursor"`
	}
	if err := resp.Decode(&pg); err != nil {
		return nil, "", err.Error(), true
	}
	return pg.Items, pg.Next, "", true
}

func (p *Portal) flows(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	items, _, msg, ok := p.list(w, r, s, "/v1/flows")
	if !ok {
		return
	}
	p.page(w, r, s, http.StatusOK, "flows", "Your flows", items, msg)
}

// Param is one documented request header or parameter.
type Param struct {
	Name, In, Description string
	Required              bool
}

// Response is one documented answer.
type Response struct {
	Code, Description string
}

// flowData is a flow's documentation, try-it form and snippets.
type flowData struct {
	Flow        map[string]any
	Method      string
	Path        string
	OperationID string
	Description string
	Params      []Param
	Responses   []Response
	Snippets    []Snippet
	Body        string
	ContentType string
}

func (p *Portal) flow(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	p.flowPage(w, r, s, "", "", "")
}

func (p *Portal) flowPage(w http.ResponseWriter, r *http.Request, s *webui.Session, body, ctype, msg string) {
	id := r.PathValue("id")
	items, _, lmsg, ok := p.list(w, r, s, "/v1/flows")
	if !ok {
		return
	}
	var f map[string]any
	for _, it := range items {
		if it["id"] == id {
			f = it
		}
	}
	if f == nil {
		p.page(w, r, s, http.StatusNotFound, "message", "Flow "+id, nil, "No such flow among yours. "+lmsg)
		return
	}
	d := flowData{Flow: f, Method: "POST", Path: "/v1/flows/" + id + "/jobs", Body: body, ContentType: ctype}
	if d.Body == "" {
		d.Body = `{"order": 42}`
	}
	if d.ContentType == "" {
		d.ContentType = "application/json"
	}
	resp := p.call(r, s, http.MethodGet, "/v1/openapi.json")
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Description string `json:"description"`
			Parameters  []struct {
				Name, In, Description string
				Required              bool
			} `json:"parameters"`
			Responses map[string]struct {
				Description string `json:"description"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if resp.OK() && resp.Decode(&doc) == nil {
		if op, ok := doc.Paths[d.Path]["post"]; ok {
			d.OperationID, d.Description = op.OperationID, op.Description
			for _, pr := range op.Parameters {
				d.Params = append(d.Params, Param{Name: pr.Name, In: pr.In, Description: pr.Description, Required: pr.Required})
			}
			for code, rs := range op.Responses {
				d.Responses = append(d.Responses, Response{Code: code, Description: rs.Description})
			}
			sortResponses(d.Responses)
		}
	}
	d.Snippets = snippets(p.publicURL(r), s.Client, id)[:3]
	p.page(w, r, s, 0, "flow", titleOf(f), d, msg)
}

func titleOf(f map[string]any) string {
	if t, _ := f["title"].(string); t != "" {
		return t + " (" + f["id"].(string) + ")"
	}
	return f["id"].(string)
}

func sortResponses(rs []Response) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].Code < rs[j-1].Code; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

// publicURL is the base URL for snippets.
func (p *Portal) publicURL(r *http.Request) string {
	if p.cfg.PublicURL != "" {
		return p.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// try submits the form's payload through the partner API's submit path
// and shows the job.
func (p *Portal) try(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	id := r.PathValue("id")
	body, ctype := r.PostFormValue("body"), strings.TrimSpace(r.PostFormValue("content_type"))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	if int64(len(body)) > p.cfg.MaxTryBody {
		p.flowPage(w, r, s, "", ctype, "The payload is too large for the try-it form; use the API.")
		return
	}
	resp := p.api.Load().Do(r, s.Token, http.MethodPost, "/v1/flows/"+url.PathEscape(id)+"/jobs", strings.NewReader(body), ctype)
	if p.expired(w, r, resp) {
		return
	}
	var job struct {
		ID string `json:"id"`
	}
	if !resp.OK() || resp.Decode(&job) != nil || job.ID == "" {
		p.flowPage(w, r, s, body, ctype, "Not submitted: "+resp.Problem())
		return
	}
	http.Redirect(w, r, Base+"/jobs/"+url.PathEscape(job.ID), http.StatusSeeOther)
}

// jobsData lists the partner's recent jobs, newest first, and its events
// (terminal job runs) page by page.
type jobsData struct {
	Jobs   []map[string]any
	Events []map[string]any
	Next   string
	After  string
}

func (p *Portal) jobs(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	if id := strings.TrimSpace(r.FormValue("id")); id != "" {
		http.Redirect(w, r, Base+"/jobs/"+url.PathEscape(id), http.StatusSeeOther)
		return
	}
	q := url.Values{"limit": {"50"}}
	after := r.FormValue("after")
	if after != "" {
		q.Set("after", after)
	}
	recent, _, msg, ok := p.list(w, r, s, "/v1/jobs?limit=50")
	if !ok {
		return
	}
	items, next, msg2, ok := p.list(w, r, s, "/v1/events?"+q.Encode())
	if !ok {
		return
	}
	if msg == "" {
		msg = msg2
	}
	p.page(w, r, s, 0, "jobs", "Jobs and events", jobsData{Jobs: recent, Events: items, Next: next, After: after}, msg)
}

// jobData is one job: state, result and callback deliveries.
type jobData struct {
	Job        map[string]any
	Terminal   bool
	Result     string
	ResultNote string
	Attempts   []map[string]any
	Deliveries []map[string]any
}

func (d jobData) refresh() int {
	if d.Terminal {
		return 0
	}
	return 1
}

// maxShownResult bounds the result shown on the page.
const maxShownResult = 64 << 10

func (p *Portal) job(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	id := r.PathValue("id")
	resp := p.call(r, s, http.MethodGet, "/v1/jobs/"+url.PathEscape(id))
	if p.expired(w, r, resp) {
		return
	}
	var j map[string]any
	if !resp.OK() || resp.Decode(&j) != nil {
		p.page(w, r, s, resp.Status, "message", "Job "+id, nil, resp.Problem())
		return
	}
	d := jobData{Job: j}
	switch j["status"] {
	case "succeeded", "failed", "canceled":
		d.Terminal = true
	}
	if d.Terminal && j["result"] != nil {
		res := p.call(r, s, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+"/result")
		switch {
		case len(res.Body) > maxShownResult:
			d.ResultNote = "The result is larger than 64 KiB; fetch it with the API."
		case !utf8.Valid(res.Body):
			d.ResultNote = "The result is binary; fetch it with the API."
		default:
			d.Result = string(res.Body)
		}
	}
	dels, _, msg, ok := p.list(w, r, s, "/v1/jobs/"+url.PathEscape(id)+"/deliveries")
	if !ok {
		return
	}
	d.Deliveries = dels
	atts, _, msg2, ok := p.list(w, r, s, "/v1/jobs/"+url.PathEscape(id)+"/attempts")
	if !ok {
		return
	}
	if msg == "" {
		msg = msg2
	}
	d.Attempts = atts
	p.page(w, r, s, http.StatusOK, "job", "Job "+id, d, msg)
}

func (p *Portal) resend(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	id := r.PathValue("id")
	resp := p.call(r, s, http.MethodPost, "/v1/jobs/"+url.PathEscape(id)+"/deliveries/resend")
	if p.expired(w, r, resp) {
		return
	}
	if resp.OK() {
		s.Flash("The callback was queued again; its attempt appears below.")
	} else {
		s.Flash("Not resent: " + resp.Problem())
	}
	http.Redirect(w, r, Base+"/jobs/"+url.PathEscape(id), http.StatusSeeOther)
}

// webhooksData is the webhooks page: the partner's webhooks and its
// recent jobs, each linking to its deliveries.
type webhooksData struct {
	Webhooks []map[string]any
	Jobs     []map[string]any
}

func (p *Portal) webhooks(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	hooks, _, msg, ok := p.list(w, r, s, "/v1/webhooks")
	if !ok {
		return
	}
	events, _, msg2, ok := p.list(w, r, s, "/v1/jobs?limit=50")
	if !ok {
		return
	}
	if msg == "" {
		msg = msg2
	}
	p.page(w, r, s, 0, "webhooks", "Webhooks", webhooksData{Webhooks: hooks, Jobs: events}, msg)
}

func (p *Portal) code(w http.ResponseWriter, r *http.Request, s *webui.Session) {
	flow := "<flow>"
	if items, _, _, ok := p.list(w, r, s, "/v1/flows"); !ok {
		return
	} else if len(items) > 0 {
		flow, _ = items[0]["id"].(string)
	}
	p.page(w, r, s, http.StatusOK, "code", "Code snippets", snippets(p.publicURL(r), s.Client, flow), "")
}
