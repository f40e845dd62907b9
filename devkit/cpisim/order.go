package cpisim

import (
	"fmt"
	"sort"
)

// OrderViolations checks spans (from [Sim.Spans]) against sequences: for
// each key, its job IDs in the order they must run. Every call of a job
// must have ended before the first call of the next called job of its key
// started (calls of one job may repeat: retries). It returns a description
// of each violation (empty when there is none) and how many of the jobs
// were called at all.
func OrderViolations(spans []Span, sequences map[string][]string) (violations []string, called int) {
	type bounds struct{ first, last Span }
	seen := map[string]*bounds{}
	for _, sp := range spans {
		b, ok := seen[sp.Job]
		if !ok {
			seen[sp.Job] = &bounds{first: sp, last: sp}
			continue
		}
		if sp.Start.Before(b.first.Start) {
			b.first = sp
		}
		if sp.End.After(b.last.End) {
			b.last = sp
		}
	}
	keys := make([]string, 0, len(sequences))
	for k := range sequences {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var prev *bounds
		var prevID string
		for n, id := range sequences[k] {
			b, ok := seen[id]
			if !ok {
				continue
			}
			called++
			if prev != nil && b.first.Start.Before(prev.last.End) {
				violations = append(violations, fmt.Sprintf("key %s: job %d (%s) started %s before job %s ended %s",
					k, n, id, b.first.Start.Format("15:04:05.000000"), prevID, prev.last.End.Format("15:04:05.000000")))
			}
			prev, prevID = b, id
		}
	}
	return violations, called
}
