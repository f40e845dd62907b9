package ingress

import (
	"errors"
	"net/http"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/internal/audit"
	"github.com/gin-gonic/gin"
)

func (s *Server) flowRoutes(g *gin.RouterGroup) {
	g.GET("/flows", s.adminListFlows)
	g.GET("/flows/:id", s.adminGetFlow)
	g.PATCH("/flows/:id", s.patchFlow)
}

// adminListFlows is GET /admin/v1/flows?provider=&status=&limit=&cursor=.
func (s *Server) adminListFlows(c *gin.Context) {
	limit, cursor, ok := pageParams(c)
	if !ok {
		return
	}
	provider, status := c.Query("provider"), c.Query("status")
	switch status {
	case "", catalog.FlowEnabled, catalog.FlowDisabled, catalog.FlowUnavailable:
	default:
		writeProblem(c, problem(http.StatusBadRequest, "invalid_request", "status must be enabled, disabled or unavailable"))
		return
	}
	items := []catalog.Flow{}
	next := ""
	for _, f := range s.deps.Catalog.Flows() {
		if f.ID <= cursor || (provider != "" && f.Provider != provider) || (status != "" && f.Status != status) {
			continue
		}
		if len(items) == limit {
			next = items[len(items)-1].ID
			break
		}
		items = append(items, f)
	}
	writeJSON(c.Writer, http.StatusOK, listPage[catalog.Flow]{Items: items, NextCursor: next})
}

// adminGetFlow is GET /admin/v1/flows/{id}.
func (s *Server) adminGetFlow(c *gin.Context) {
	id, ok := pathID(c)
	if !ok {
		return
	}
	f, found := s.deps.Catalog.Flow(id)
	if !found {
		writeProblem(c, catalog.ErrNotFound)
		return
	}
	writeJSON(c.Writer, http.StatusOK, f)
}

// flowPatch is the body of PATCH /admin/v1/flows/{id}. "policy" is merged
// into the current policy: fields left out keep their values, unknown
// fields are refused.
type flowPatch struct {
	Status      *string `json:"status"`
	Title       *string `json:"title"`
	Description *string `json:"description"`
	Policy      rawJSON `json:"policy"`
}

func (p flowPatch) apply(f *catalog.Flow) ([]string, error) {
	var fields []string
	if p.Status != nil {
		fields = append(fields, "status")
		switch *p.Status {
		case catalog.FlowEnabled, catalog.FlowDisabled:
		default:
			return nil, errors.New("status must be enabled or disabled (unavailable is set by discovery)")
		}
		if f.Status == catalog.FlowUnavailable {
			f.AvailableStatus = *p.Status // applies when the iFlow is deployed again
		} else {
			f.Status = *p.Status
		}
	}
	if p.Title != nil {
		fields = append(fields, "title")
		f.Title, f.CustomTitle = *p.Title, true
	}
	if p.Description != nil {
		fields = append(fields, "description")
		f.Description, f.CustomTitle = *p.Description, true
	}
	if p.Policy != nil {
		fields = append(fields, "policy")
		pol := f.Policy
		if err := catalog.DecodeStrict(p.Policy, &pol); err != nil {
			return nil, errors.New("policy: " + err.Error())
		}
		if pol.ForwardHeaders == nil {
			pol.ForwardHeaders = []string{}
		}
		f.Policy = pol
	}
	return fields, nil
}

// patchFlow is PATCH /admin/v1/flows/{id}: status (enabled or disabled),
// title, description and policy. Every process applies it within moments.
func (s *Server) patchFlow(c *gin.Context) {
	id, ok := pathID(c)
	if !ok {
		return
	}
	var p flowPatch
	if perr := readJSON(c, &p, false); perr != nil {
		writeProblem(c, perr)
		return
	}
	var fields []string
	f, err := s.deps.Catalog.UpdateFlow(c, id, func(f *catalog.Flow) error {
		var err error
		fields, err = p.apply(f)
		return err
	})
	if err != nil {
		writeProblem(c, err)
		return
	}
	s.auditAdmin(c, audit.ActionFlowUpdated, id, "fields="+joinFields(fields))
	writeJSON(c.Writer, http.StatusOK, f)
}
