package cpisim

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The Cloud Integration OData API v1 (cpi.md section 2), read-only, in the
// OData V2 "verbose" JSON envelope:
//
//	GET /api/v1/                                service document
//	GET /api/v1/ServiceEndpoints                [$expand=EntryPoints]
//	GET /api/v1/IntegrationRuntimeArtifacts
//	GET /api/v1/IntegrationRuntimeArtifacts('<Id>')
//
// Collections answer {"d":{"results":[…],"__next":"…"}} with at most
// Config.ODataPageSize entities; "__next" carries $skiptoken. Query options:
// $format=json (or Accept: application/json; the simulator speaks JSON
// only and answers 406 otherwise, where a tenant would answer Atom XML),
// $top, $skip, $skiptoken, $inlinecount=allpages ("__count", a string),
// $expand=EntryPoints, and $filter of the form "<Field> eq '<value>'" on a
// string field (other filters 400). $select is accepted and ignored.
//
// Authentication: a Bearer token of the api plan or HTTP Basic with the api
// key (401 otherwise; a runtime credential is a role mismatch, 403). Errors
// use the spec's body {"error":{"code","message":{"lang","value"}}}.
// Injected API faults (SetAPIFaults, PUT /sim/v1/api/faults) answer after
// authentication, before the entity set is read.

func (s *Sim) odataRoutes(mux *http.ServeMux) {
	mux.HandleFunc("/api/v1/", s.serveOData)
	mux.HandleFunc("/api/v1", s.serveOData)
}

// odataMeta is an entity's __metadata.
type odataMeta struct {
	ID   string `json:"id"`
	URI  string `json:"uri"`
	Type string `json:"type"`
}

type deferred struct {
	Deferred struct {
		URI string `json:"uri"`
	} `json:"__deferred"`
}

func deferredTo(uri string) deferred {
	var d deferred
	d.Deferred.URI = uri
	return d
}

type serviceEndpoint struct {
	Metadata       odataMeta `json:"__metadata"`
	Name           string    `json:"Name"`
	ID             string    `json:"Id"`
	Title          string    `json:"Title"`
	Version        string    `json:"Version"`
	Summary        string    `json:"Summary"`
	Description    string    `json:"Description"`
	LastUpdated    string    `json:"LastUpdated"`
	Protocol       string    `json:"Protocol"`
	EntryPoints    any       `json:"EntryPoints"`
	APIDefinitions deferred  `json:"ApiDefinitions"`
}

type entryPoint struct {
	Metadata              odataMeta `json:"__metadata"`
	Name                  string    `json:"Name"`
	URL                   string    `json:"Url"`
	Type                  string    `json:"Type"`
	AdditionalInformation string    `json:"AdditionalInformation"`
}

type runtimeArtifact struct {
	Metadata         odataMeta `json:"__metadata"`
	ID               string    `json:"Id"`
	Version          string    `json:"Version"`
	Name             string    `json:"Name"`
	Type             string    `json:"Type"`
	DeployedBy       string    `json:"DeployedBy"`
	DeployedOn       string    `json:"DeployedOn"`
	Status           string    `json:"Status"`
	ErrorInformation deferred  `json:"ErrorInformation"`
}

type odataError struct {
	Error struct {
		Code    string `json:"code"`
		Message struct {
			Lang  string `json:"lang"`
			Value string `json:"value"`
		} `json:"message"`
	} `json:"error"`
}

func writeODataError(w http.ResponseWriter, status int, msg string) {
	var e odataError
	e.Error.Code = http.StatusText(status)
	e.Error.Message.Lang = "en"
	e.Error.Message.Value = msg
	writeJSON(w, status, e)
}

// serveOData implements /api/v1.
func (s *Sim) serveOData(w http.ResponseWriter, r *http.Request) {
	s.apiRequests.Add(1)
	switch s.authenticateAPI(r) {
	case audNone:
		writeUnauthorized(w, "Bearer")
		return
	case audRuntime:
		writeODataError(w, http.StatusForbidden, "Forbidden: the credential lacks the role for this API")
		return
	}
	if s.apiFault(w) {
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeODataError(w, http.StatusMethodNotAllowed, "The simulator's OData API is read-only")
		return
	}
	q := r.URL.Query()
	if f := q.Get("$format"); f != "" && f != "json" {
		writeODataError(w, http.StatusBadRequest, "The simulator supports $format=json only")
		return
	}
	if q.Get("$format") == "" && !strings.Contains(r.Header.Get("Accept"), "application/json") {
		writeODataError(w, http.StatusNotAcceptable, "The simulator answers JSON only: send $format=json or Accept: application/json")
		return
	}
	root := s.odataRoot(r)
	set := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/api/v1"), "/")
	if r.Header.Get(csrfHeader) == "Fetch" {
		w.Header().Set(csrfHeader, strings.ToUpper(randomToken(16)))
	}
	switch {
	case set == "":
		writeJSON(w, http.StatusOK, map[string]any{"d": map[string]any{
			"EntitySets": []string{"IntegrationRuntimeArtifacts", "ServiceEndpoints"},
		}})
	case set == "ServiceEndpoints":
		expand := slices.Contains(strings.Split(q.Get("$expand"), ","), "EntryPoints")
		s.writeCollection(w, r, root, "ServiceEndpoints", s.serviceEndpoints(root, expand))
	case set == "IntegrationRuntimeArtifacts":
		s.writeCollection(w, r, root, "IntegrationRuntimeArtifacts", s.runtimeArtifacts(root))
	case strings.HasPrefix(set, "IntegrationRuntimeArtifacts('") && strings.HasSuffix(set, "')"):
		id := strings.TrimSuffix(strings.TrimPrefix(set, "IntegrationRuntimeArtifacts('"), "')")
		for _, a := range s.runtimeArtifacts(root) {
			if a.ID == id {
				writeJSON(w, http.StatusOK, map[string]any{"d": a})
				return
			}
		}
		writeODataError(w, http.StatusNotFound, fmt.Sprintf("Integration runtime artifact '%s' not found", id))
	default:
		writeODataError(w, http.StatusNotFound, fmt.Sprintf("Resource not found for the segment '%s'", set))
	}
}

// authenticateAPI checks an /api/v1 request's credentials: an api-plan
// Bearer token or HTTP Basic with the api key's client ID and secret.
func (s *Sim) authenticateAPI(r *http.Request) audience {
	aud, _ := s.authenticateRuntime(r) // same credential forms, both plans
	return aud
}

// odataRoot is the absolute service root URL the request was sent to.
func (s *Sim) odataRoot(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/api/v1"
}

// odataDate formats t as the configured OData date form.
func (s *Sim) odataDate(t time.Time) string {
	if s.cfg.ODataISODates {
		return t.UTC().Format("2006-01-02T15:04:05.000")
	}
	return fmt.Sprintf("/Date(%d)/", t.UnixMilli())
}

// serviceEndpoints lists one ServiceEndpoint per deployed sender endpoint,
// sorted by artifact and address.
func (s *Sim) serviceEndpoints(root string, expand bool) []any {
	s.mu.RLock()
	flows := make([]*flow, 0, len(s.flows))
	for _, f := range s.flows {
		flows = append(flows, f)
	}
	s.mu.RUnlock()
	slices.SortFunc(flows, func(a, b *flow) int {
		if c := strings.Compare(a.Artifact, b.Artifact); c != 0 {
			return c
		}
		return strings.Compare(a.Address, b.Address)
	})
	out := make([]any, 0, len(flows))
	base := s.URL()
	for _, f := range flows {
		id := f.Artifact + "$endpointAddress=" + strings.TrimPrefix(f.Address, "/")
		uri := root + "/ServiceEndpoints('" + url.PathEscape(id) + "')"
		epURL := base + f.base + f.Address
		se := serviceEndpoint{
			Metadata: odataMeta{ID: uri, URI: uri, Type: "com.sap.hci.api.ServiceEndpoint"},
			Name:     f.Artifact, ID: id, Title: f.Name, Version: f.Version,
			Summary: f.Description, Description: f.Description,
			LastUpdated: s.odataDate(f.deployedAt), Protocol: f.Protocol,
			APIDefinitions: deferredTo(uri + "/ApiDefinitions"),
		}
		if expand {
			epURI := root + "/EntryPoints('" + url.PathEscape(epURL) + "')"
			se.EntryPoints = map[string]any{"results": []entryPoint{{
				Metadata: odataMeta{ID: epURI, URI: epURI, Type: "com.sap.hci.api.EntryPoint"},
				Name:     f.Artifact, URL: epURL, Type: "PROD",
			}}}
		} else {
			se.EntryPoints = deferredTo(uri + "/EntryPoints")
		}
		out = append(out, se)
	}
	return out
}

// runtimeArtifacts lists the deployed artifacts, sorted by ID: one per
// distinct IFlow.Artifact, deployed at the latest of its endpoints.
func (s *Sim) runtimeArtifacts(root string) []runtimeArtifact {
	s.mu.RLock()
	byID := map[string]*flow{}
	for _, f := range s.flows {
		if cur, ok := byID[f.Artifact]; !ok || f.deployedAt.After(cur.deployedAt) {
			byID[f.Artifact] = f
		}
	}
	s.mu.RUnlock()
	out := make([]runtimeArtifact, 0, len(byID))
	for id, f := range byID {
		uri := root + "/IntegrationRuntimeArtifacts('" + url.PathEscape(id) + "')"
		out = append(out, runtimeArtifact{
			Metadata: odataMeta{ID: uri, URI: uri, Type: "com.sap.hci.api.IntegrationRuntimeArtifact"},
			ID:       id, Version: f.Version, Name: f.Name, Type: "INTEGRATION_FLOW",
			DeployedBy: s.cfg.APIClientID, DeployedOn: s.odataDate(f.deployedAt), Status: "STARTED",
			ErrorInformation: deferredTo(uri + "/ErrorInformation"),
		})
	}
	slices.SortFunc(out, func(a, b runtimeArtifact) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// writeCollection filters and pages a collection and writes its envelope.
func (s *Sim) writeCollection(w http.ResponseWriter, r *http.Request, root, set string, all any) {
	q := r.URL.Query()
	items := toAny(all)
	if f := q.Get("$filter"); f != "" {
		var err error
		if items, err = filterEq(items, f); err != nil {
			writeODataError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	skip, top, token := 0, -1, 0
	for name, dst := range map[string]*int{"$skip": &skip, "$top": &top, "$skiptoken": &token} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				writeODataError(w, http.StatusBadRequest, fmt.Sprintf("Invalid value '%s' for %s", v, name))
				return
			}
			*dst = n
		}
	}
	start := min(skip+token, len(items))
	end := min(start+s.cfg.ODataPageSize, len(items))
	if top >= 0 {
		end = min(end, max(skip+top, start))
	}
	d := map[string]any{"results": items[start:end]}
	if q.Get("$inlinecount") == "allpages" {
		d["__count"] = strconv.Itoa(len(items))
	}
	if end < len(items) && (top < 0 || end < skip+top) {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("$skiptoken", strconv.Itoa(end-skip))
		next := set + "?" + nq.Encode()
		if !s.cfg.ODataRelativeNext {
			next = root + "/" + next
		}
		d["__next"] = next
	}
	writeJSON(w, http.StatusOK, map[string]any{"d": d})
}

func toAny(v any) []any {
	switch t := v.(type) {
	case []any:
		return t
	case []runtimeArtifact:
		out := make([]any, len(t))
		for i := range t {
			out[i] = t[i]
		}
		return out
	}
	return nil
}

// filterEq applies "$filter=<Field> eq '<value>'" to string fields.
func filterEq(items []any, expr string) ([]any, error) {
	field, rest, ok := strings.Cut(strings.TrimSpace(expr), " eq ")
	rest = strings.TrimSpace(rest)
	if !ok || len(rest) < 2 || rest[0] != '\'' || rest[len(rest)-1] != '\'' {
		return nil, fmt.Errorf("The simulator supports $filter=<Field> eq '<value>' only, not %q", expr)
	}
	want := strings.ReplaceAll(rest[1:len(rest)-1], "''", "'")
	out := []any{}
	for _, it := range items {
		v, known := stringField(it, strings.TrimSpace(field))
		if !known {
			return nil, fmt.Errorf("Property '%s' is not a filterable string property", field)
		}
		if v == want {
			out = append(out, it)
		}
	}
	return out, nil
}

func stringField(it any, field string) (string, bool) {
	switch e := it.(type) {
	case serviceEndpoint:
		m := map[string]string{"Name": e.Name, "Id": e.ID, "Title": e.Title, "Version": e.Version, "Protocol": e.Protocol}
		v, ok := m[field]
		return v, ok
	case runtimeArtifact:
		m := map[string]string{"Id": e.ID, "Name": e.Name, "Version": e.Version, "Type": e.Type, "Status": e.Status}
		v, ok := m[field]
		return v, ok
	}
	return "", false
}
