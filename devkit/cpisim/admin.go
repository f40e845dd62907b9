package cpisim

import (
	"errors"
	"io"
	"net"
	"net/http"
)

// The admin API, /sim/v1, deploys iFlows and injects faults while serving.
// It is unauthenticated, so it answers loopback callers only (403 otherwise)
// unless Config.AdminAllowRemote is set. Bodies are JSON; unknown fields are
// refused with 400; errors are {"error":"<text>"}.
//
//	GET    /sim/v1/iflows              200 {"iflows":[<iflow status>...]}
//	GET    /sim/v1/iflows/{id}         200 <iflow status> | 404
//	PUT    /sim/v1/iflows/{id}         <IFlow>  -> 201 (new) | 200 (replaced) <iflow status>; 400; 409 address in use
//	DELETE /sim/v1/iflows/{id}         204 | 404
//	PUT    /sim/v1/iflows/{id}/faults  <Faults> -> 200 <iflow status>; 400; 404
//	GET    /sim/v1/iflows/{id}/calls   200 {"calls":[<Call>...]}
//	GET    /sim/v1/api/faults          200 <APIFaults>
//	PUT    /sim/v1/api/faults          <APIFaults> -> 200 <APIFaults>; 400
//
// <IFlow> is {"id","name","address","csrf"(default true),"faults",
// "response_status","response_headers","max_body_size"}; "id" may be
// omitted (taken from the path) but must match it when present.
// <Faults> is {"latency":"500ms","error_rate":0.5,"error_status":503,
// "error_message":"...","outage":false}.
// <iflow status> is the IFlow with defaults applied plus "url" (the
// runtime endpoint), "calls" and "csrf_fetches".

// maxAdminBody bounds admin request bodies.
const maxAdminBody = 1 << 20

// iflowStatus is the admin view of a deployed iFlow.
type iflowStatus struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	Address         string            `json:"address"`
	CSRF            bool              `json:"csrf"`
	Faults          Faults            `json:"faults"`
	ResponseStatus  int               `json:"response_status"`
	ResponseHeaders map[string]string `json:"response_headers,omitempty"`
	MaxBodySize     int64             `json:"max_body_size,omitempty"`
	URL             string            `json:"url"`
	Calls           int               `json:"calls"`
	CSRFFetches     int               `json:"csrf_fetches"`
}

type adminError struct {
	Error string `json:"error"`
}

// adminRoutes registers the admin API.
func (s *Sim) adminRoutes(mux *http.ServeMux) {
	mux.Handle("GET /sim/v1/iflows", s.adminOnly(s.adminList))
	mux.Handle("GET /sim/v1/iflows/{id}", s.adminOnly(s.adminGet))
	mux.Handle("PUT /sim/v1/iflows/{id}", s.adminOnly(s.adminDeploy))
	mux.Handle("DELETE /sim/v1/iflows/{id}", s.adminOnly(s.adminUndeploy))
	mux.Handle("PUT /sim/v1/iflows/{id}/faults", s.adminOnly(s.adminFaults))
	mux.Handle("GET /sim/v1/iflows/{id}/calls", s.adminOnly(s.adminCalls))
	mux.Handle("GET /sim/v1/api/faults", s.adminOnly(s.adminGetAPIFaults))
	mux.Handle("PUT /sim/v1/api/faults", s.adminOnly(s.adminSetAPIFaults))
}

// adminOnly refuses non-loopback callers unless AdminAllowRemote.
func (s *Sim) adminOnly(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.cfg.AdminAllowRemote && !isLoopback(r.RemoteAddr) {
			writeJSON(w, http.StatusForbidden, adminError{"the cpisim admin API answers loopback callers only"})
			return
		}
		h(w, r)
	})
}

func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Sim) adminList(w http.ResponseWriter, _ *http.Request) {
	flows := s.IFlows()
	out := make([]iflowStatus, 0, len(flows))
	for _, f := range flows {
		out = append(out, s.status(f))
	}
	writeJSON(w, http.StatusOK, struct {
		IFlows []iflowStatus `json:"iflows"`
	}{out})
}

func (s *Sim) adminGet(w http.ResponseWriter, r *http.Request) {
	f, ok := s.deployed(r.PathValue("id"))
	if !ok {
		writeJSON(w, http.StatusNotFound, adminError{ErrUnknownIFlow.Error()})
		return
	}
	writeJSON(w, http.StatusOK, s.status(f))
}

func (s *Sim) adminDeploy(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var f IFlow
	if !readAdminBody(w, r, &f) {
		return
	}
	if f.ID == "" {
		f.ID = id
	}
	if f.ID != id {
		writeJSON(w, http.StatusBadRequest, adminError{"id in body differs from id in path"})
		return
	}
	_, existed := s.deployed(id)
	if err := s.Deploy(f); err != nil {
		writeAdminError(w, err)
		return
	}
	s.log.Info("cpisim iflow deployed", "iflow", f.ID, "address", f.Address, "csrf", f.CSRF)
	f, _ = s.deployed(id)
	status := http.StatusCreated
	if existed {
		status = http.StatusOK
	}
	writeJSON(w, status, s.status(f))
}

func (s *Sim) adminUndeploy(w http.ResponseWriter, r *http.Request) {
	if err := s.Undeploy(r.PathValue("id")); err != nil {
		writeAdminError(w, err)
		return
	}
	s.log.Info("cpisim iflow undeployed", "iflow", r.PathValue("id"))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) adminFaults(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var faults Faults
	if !readAdminBody(w, r, &faults) {
		return
	}
	if err := s.SetFaults(id, faults); err != nil {
		writeAdminError(w, err)
		return
	}
	f, _ := s.deployed(id)
	writeJSON(w, http.StatusOK, s.status(f))
}

func (s *Sim) adminCalls(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Calls []Call `json:"calls"`
	}{s.Calls(r.PathValue("id"))})
}

// deployed returns the deployed iFlow with defaults applied.
func (s *Sim) deployed(id string) (IFlow, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f, ok := s.flows[id]
	if !ok {
		return IFlow{}, false
	}
	return f.withDefaults(), true
}

func (s *Sim) status(f IFlow) iflowStatus {
	calls, fetches := s.history(f.ID).counts()
	return iflowStatus{
		ID: f.ID, Name: f.Name, Address: f.Address, CSRF: f.CSRF, Faults: f.Faults,
		ResponseStatus: f.ResponseStatus, ResponseHeaders: f.ResponseHeaders, MaxBodySize: f.MaxBodySize,
		URL: s.EndpointURL(f.ID), Calls: calls, CSRFFetches: fetches,
	}
}

// readAdminBody decodes a strict JSON body into v, answering 400 on failure.
func readAdminBody(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err == nil {
		err = decodeStrict(b, v)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, adminError{"decoding request body: " + err.Error()})
		return false
	}
	return true
}

// writeAdminError maps the sentinel errors to statuses.
func writeAdminError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrInvalidIFlow):
		status = http.StatusBadRequest
	case errors.Is(err, ErrUnknownIFlow):
		status = http.StatusNotFound
	case errors.Is(err, ErrAddressInUse):
		status = http.StatusConflict
	}
	writeJSON(w, status, adminError{err.Error()})
}
