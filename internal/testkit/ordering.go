package testkit

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/cpibroker/cpibroker/internal/cpisim"
)

// OrderedJob is one job submitted with an Ordering-Key.
type OrderedJob struct {
	ID, Key string
	// N is its place among the jobs of its key (0 first).
	N int
}

// SubmitOrdered submits perKey jobs for each of keys concurrently (one
// goroutine per key, w at a time), each key's jobs one after the other:
// the next is sent once the previous one's 202 came back, so the order of
// the 202s is the order of the list. It fails the test on any other answer.
func (p *Partner) SubmitOrdered(flow string, keys []string, perKey, w int) []OrderedJob {
	p.T.Helper()
	var (
		mu  sync.Mutex
		out []OrderedJob
		wg  sync.WaitGroup
		sem = make(chan struct{}, max(w, 1))
		bad error
	)
	for _, k := range keys {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			for n := range perKey {
				r := p.Submit(flow, "text/plain", []byte(fmt.Sprintf("%s/%d", k, n)), http.Header{"Ordering-Key": {k}})
				var j Job
				if r.Status != http.StatusAccepted || r.decode(&j) != nil {
					mu.Lock()
					bad = fmt.Errorf("submit %s/%d: %d %s", k, n, r.Status, r.Body)
					mu.Unlock()
					return
				}
				mu.Lock()
				out = append(out, OrderedJob{ID: j.ID, Key: k, N: n})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if bad != nil {
		p.T.Fatal(bad)
	}
	return out
}

// CheckOrder verifies, from the simulator's spans of iflow, that the jobs
// of each key were called in the order of their N and one at a time: every
// call of a job ended before the first call of the next job of its key
// started. Calls of one job may repeat (retries). It returns a description
// of every violation, empty when there is none, and how many of jobs were
// called.
func CheckOrder(spans []cpisim.Span, jobs []OrderedJob) (violations []string, called int) {
	byID := map[string]OrderedJob{}
	for _, j := range jobs {
		byID[j.ID] = j
	}
	type span struct {
		first, last cpisim.Span
	}
	seen := map[string]*span{}
	for _, sp := range spans {
		if _, ok := byID[sp.Job]; !ok {
			continue
		}
		s, ok := seen[sp.Job]
		if !ok {
			seen[sp.Job] = &span{first: sp, last: sp}
			continue
		}
		if sp.Start.Before(s.first.Start) {
			s.first = sp
		}
		if sp.End.After(s.last.End) {
			s.last = sp
		}
	}
	perKey := map[string][]OrderedJob{}
	for _, j := range jobs {
		perKey[j.Key] = append(perKey[j.Key], j)
	}
	for k, js := range perKey {
		ordered := make([]*OrderedJob, len(js))
		for i := range js {
			if js[i].N < len(ordered) {
				ordered[js[i].N] = &js[i]
			}
		}
		var prev *span
		var prevID string
		for _, j := range ordered {
			if j == nil {
				continue
			}
			s, ok := seen[j.ID]
			if !ok {
				continue
			}
			called++
			if prev != nil && s.first.Start.Before(prev.last.End) {
				violations = append(violations, fmt.Sprintf("key %s: job %d (%s) started %s before job %s ended %s",
					k, j.N, j.ID, s.first.Start.Format("15:04:05.000000"), prevID, prev.last.End.Format("15:04:05.000000")))
			}
			prev, prevID = s, j.ID
		}
	}
	return violations, called
}

// Keys returns n ordering keys with the given prefix.
func Keys(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

func (r Response) decode(v any) error { return json.Unmarshal(r.Body, v) }
