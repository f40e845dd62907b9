package testkit

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/cpibroker/cpibroker/devkit/cpisim"
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

// CheckOrder verifies, from the simulator's spans of an iFlow, that the
// jobs of each key were called in the order of their N and one at a time
// (cpisim.OrderViolations). It returns a description of every violation,
// empty when there is none, and how many of jobs were called.
func CheckOrder(spans []cpisim.Span, jobs []OrderedJob) (violations []string, called int) {
	seqs := map[string][]string{}
	for _, j := range jobs {
		s := seqs[j.Key]
		for len(s) <= j.N {
			s = append(s, "")
		}
		s[j.N] = j.ID
		seqs[j.Key] = s
	}
	return cpisim.OrderViolations(spans, seqs)
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
