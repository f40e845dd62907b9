package discovery

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/cpibroker/cpibroker/catalog"
)

// Summary counts what one discovery changed.
type Summary struct {
	// Endpoints is how many callable entry points the provider serves.
	Endpoints int `json:"endpoints"`
	// Added flows are new (disabled unless the provider auto-enables).
	Added int `json:"added"`
	// Updated flows changed URL, title, artifact or came back (Restored).
	Updated int `json:"updated"`
	// Restored flows were unavailable and are deployed again.
	Restored int `json:"restored"`
	// Unavailable flows are no longer deployed (newly marked).
	Unavailable int `json:"unavailable"`
	// Unchanged flows needed no write.
	Unchanged int `json:"unchanged"`
	// Skipped entry points are not HTTP-callable (OData, AS2, …) or
	// could not be named (a declared ID taken by another provider).
	Skipped int `json:"skipped"`
}

// apply brings the provider's flows in line with the entry points it
// serves now. before are the provider's flows as read before the listing:
// only those, and only while unchanged since, are retired when not served.
func (r *Runner) apply(ctx context.Context, p catalog.Provider, eps []endpoint, before []catalog.Flow) (Summary, error) {
	st := r.cfg.Store
	sum := Summary{Endpoints: len(eps)}
	// Flows without an artifact were declared by hand (a seed, for a
	// provider without discovery): discovery leaves them alone.
	current := slices.DeleteFunc(st.ProviderFlows(p.ID), func(f catalog.Flow) bool { return f.ArtifactID == "" })
	byKey := make(map[string]catalog.Flow, len(current))
	for _, f := range current {
		byKey[f.ArtifactID+"\x00"+strings.ToLower(f.Address)] = f
	}
	incoming := make(map[string]bool, len(eps))
	perArtifact := map[string]int{}
	for _, e := range eps {
		incoming[e.key()] = true
		perArtifact[e.Artifact]++
	}
	// A flow whose (artifact, address) is gone but whose address and
	// protocol are served by another artifact was renamed: it keeps its ID.
	vanishedByAddr := map[string]catalog.Flow{}
	for _, f := range current {
		if !incoming[f.ArtifactID+"\x00"+strings.ToLower(f.Address)] {
			vanishedByAddr[f.Protocol+"\x00"+strings.ToLower(f.Address)] = f
		}
	}
	slices.SortFunc(eps, func(a, b endpoint) int { return strings.Compare(a.key(), b.key()) })
	matched := map[string]bool{}
	var errs []error
	for _, e := range eps {
		f, ok := byKey[e.key()]
		if !ok && e.ID != "" {
			if g, exists := st.Flow(e.ID); exists {
				if g.Provider != p.ID {
					r.cfg.Log.Warn("discovery: declared flow ID belongs to another provider", "provider", p.ID, "flow", e.ID, "owner", g.Provider)
					sum.Skipped++
					continue
				}
				f, ok = g, true
			}
		}
		if !ok && e.ID == "" {
			if g, found := vanishedByAddr[e.Protocol+"\x00"+strings.ToLower(e.Address)]; found && !matched[g.ID] {
				f, ok = g, true
				r.cfg.Log.Info("discovery: artifact renamed; flow keeps its ID", "provider", p.ID, "flow", g.ID, "from", g.ArtifactID, "to", e.Artifact)
			}
		}
		if ok {
			matched[f.ID] = true
			changed, restored, err := r.update(ctx, f, e)
			switch {
			case err != nil:
				errs = append(errs, err)
			case restored:
				sum.Restored++
				sum.Updated++
			case changed:
				sum.Updated++
			default:
				sum.Unchanged++
			}
			continue
		}
		id, err := r.create(ctx, p, e, perArtifact[e.Artifact] > 1)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		matched[id] = true
		sum.Added++
	}
	// Flows no longer deployed (a flow without an artifact was not
	// discovered, so discovery does not retire it). A flow created or
	// written after the listing began is not known to be gone: the next
	// discovery judges it.
	stale := slices.DeleteFunc(before, func(f catalog.Flow) bool { return f.ArtifactID == "" || matched[f.ID] })
	retired, err := st.RetireFlowsUnchanged(ctx, stale)
	sum.Unavailable += retired
	if err != nil {
		errs = append(errs, err)
	}
	return sum, errors.Join(errs...)
}

// merge applies an entry point to a flow; it reports whether the flow
// came back from unavailable.
func merge(f *catalog.Flow, e endpoint) (restored bool) {
	f.ArtifactID, f.Address, f.URL, f.Protocol = e.Artifact, e.Address, e.URL, e.Protocol
	if !f.CustomTitle {
		// CPI's texts may be longer than a flow allows: cut, never refuse.
		f.Title = catalog.Truncate(e.Title, catalog.MaxTitleBytes)
		f.Description = catalog.Truncate(e.Description, catalog.MaxDescriptionBytes)
	}
	if f.Status == catalog.FlowUnavailable {
		f.Status = f.AvailableStatus
		if f.Status == "" {
			f.Status = catalog.FlowDisabled
		}
		f.AvailableStatus = ""
		return true
	}
	return false
}

// update writes an existing flow when the entry point changed it.
func (r *Runner) update(ctx context.Context, cur catalog.Flow, e endpoint) (changed, restored bool, err error) {
	want := cur
	merge(&want, e)
	if reflect.DeepEqual(want, cur) {
		return false, false, nil
	}
	_, err = r.cfg.Store.UpdateFlow(ctx, cur.ID, func(f *catalog.Flow) error {
		restored = merge(f, e)
		return nil
	})
	if err != nil {
		return false, false, fmt.Errorf("flow %s: %w", cur.ID, err)
	}
	return true, restored, nil
}

// create stores a new flow under a fresh ID (or the declared one).
func (r *Runner) create(ctx context.Context, p catalog.Provider, e endpoint, several bool) (string, error) {
	status := catalog.FlowDisabled
	if p.AutoEnable {
		status = catalog.FlowEnabled
	}
	f := catalog.Flow{Provider: p.ID, Status: status, Policy: catalog.DefaultPolicy()}
	merge(&f, e)
	for range 5 {
		f.ID = e.ID
		if f.ID == "" {
			f.ID = catalog.NewFlowID(p.ID, e.Artifact, e.Address, several, func(id string) bool {
				_, taken := r.cfg.Store.Flow(id)
				return taken
			})
		}
		err := r.cfg.Store.PutFlow(ctx, f, true)
		if err == nil {
			r.cfg.Log.Info("discovery: flow added", "provider", p.ID, "flow", f.ID, "artifact", e.Artifact, "address", e.Address, "status", status)
			return f.ID, nil
		}
		if !errors.Is(err, catalog.ErrExists) || e.ID != "" {
			return "", fmt.Errorf("flow %s: %w", f.ID, err)
		}
		// Taken by a concurrent writer this process has not seen yet.
		if err := r.waitForFlow(ctx, f.ID); err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("flow for %s %s: no free ID", e.Artifact, e.Address)
}

// waitForFlow waits until the local view holds flow id (written elsewhere).
func (r *Runner) waitForFlow(ctx context.Context, id string) error {
	for {
		ch := r.cfg.Store.Changed()
		if _, ok := r.cfg.Store.Flow(id); ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}
