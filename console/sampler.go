package console

import (
	"bytes"
	"context"
	"net/http"
	"sort"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Row is one (client, flow) line of the overview.
type Row struct {
	Client, Flow                string
	Accepted, Succeeded, Failed float64
	Canceled, Queued, Running   float64
	Waiting                     map[string]float64
	CPIMeanMS                   float64
	WaitingText                 string
}

// snapshot is one reading of /metrics.
type snapshot struct {
	at                          time.Time
	accepted, succeeded, failed float64
	backlog, waiting            float64
	cpiSum, cpiCount            float64
	rows                        []Row
}

// history keeps the snapshots of the last window in memory.
type history struct {
	mu    sync.Mutex
	snaps []snapshot
	keep  time.Duration
}

func (h *history) add(s snapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.snaps = append(h.snaps, s)
	cut := 0
	for cut < len(h.snaps) && s.at.Sub(h.snaps[cut].at) > h.keep {
		cut++
	}
	h.snaps = append([]snapshot(nil), h.snaps[cut:]...)
}

// Series are the overview charts: per-interval counts and levels.
type Series struct {
	Accepted, Completed, Failed, Backlog, CPIMeanMS []float64
}

func (h *history) series() Series {
	h.mu.Lock()
	defer h.mu.Unlock()
	var s Series
	for i := 1; i < len(h.snaps); i++ {
		a, b := h.snaps[i-1], h.snaps[i]
		s.Accepted = append(s.Accepted, pos(b.accepted-a.accepted))
		s.Completed = append(s.Completed, pos(b.succeeded-a.succeeded))
		s.Failed = append(s.Failed, pos(b.failed-a.failed))
		s.Backlog = append(s.Backlog, b.backlog)
		mean := 0.0
		if dc := b.cpiCount - a.cpiCount; dc > 0 {
			mean = (b.cpiSum - a.cpiSum) / dc * 1000
		}
		s.CPIMeanMS = append(s.CPIMeanMS, mean)
	}
	return s
}

func pos(v float64) float64 {
	if v < 0 {
		return 0 // a counter reset (restart)
	}
	return v
}

// scrape reads the metrics through the API handler's /metrics.
func scrape(ctx context.Context, h http.Handler, now time.Time) (snapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/metrics", nil)
	if err != nil {
		return snapshot{}, err
	}
	req.RemoteAddr = "127.0.0.1:0"
	w := &bufWriter{h: http.Header{}}
	h.ServeHTTP(w, req)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(w.b.Bytes()))
	if err != nil && len(fams) == 0 {
		return snapshot{}, err
	}
	s := snapshot{at: now}
	rows := map[[2]string]*Row{}
	row := func(m *dto.Metric) *Row {
		l := labels(m)
		k := [2]string{l["client"], l["flow"]}
		r := rows[k]
		if r == nil {
			r = &Row{Client: k[0], Flow: k[1], Waiting: map[string]float64{}}
			rows[k] = r
		}
		return r
	}
	for _, m := range fams["cpibroker_jobs_accepted_total"].GetMetric() {
		v := m.GetCounter().GetValue()
		s.accepted += v
		row(m).Accepted += v
	}
	for _, m := range fams["cpibroker_jobs_completed_total"].GetMetric() {
		v := m.GetCounter().GetValue()
		switch labels(m)["status"] {
		case "succeeded":
			s.succeeded += v
			row(m).Succeeded += v
		case "failed":
			s.failed += v
			row(m).Failed += v
		case "canceled":
			row(m).Canceled += v
		}
	}
	for _, m := range fams["cpibroker_backlog"].GetMetric() {
		v := m.GetGauge().GetValue()
		s.backlog += v
		if labels(m)["kind"] == "queued" {
			row(m).Queued += v
		} else {
			row(m).Running += v
		}
	}
	for _, m := range fams["cpibroker_inflight"].GetMetric() {
		if l := labels(m); l["client"] != "" {
			row(m).Running += m.GetGauge().GetValue()
		}
	}
	for _, m := range fams["cpibroker_waiting"].GetMetric() {
		v := m.GetGauge().GetValue()
		s.waiting += v
		if v > 0 {
			row(m).Waiting[labels(m)["reason"]] += v
		}
	}
	perFlow := map[string][2]float64{}
	for _, m := range fams["cpibroker_cpi_call_duration_seconds"].GetMetric() {
		hst := m.GetHistogram()
		s.cpiSum += hst.GetSampleSum()
		s.cpiCount += float64(hst.GetSampleCount())
		f := labels(m)["flow"]
		v := perFlow[f]
		perFlow[f] = [2]float64{v[0] + hst.GetSampleSum(), v[1] + float64(hst.GetSampleCount())}
	}
	for _, r := range rows {
		if v := perFlow[r.Flow]; v[1] > 0 {
			r.CPIMeanMS = v[0] / v[1] * 1000
		}
		var reasons []string
		for k := range r.Waiting {
			reasons = append(reasons, k)
		}
		sort.Strings(reasons)
		for i, k := range reasons {
			if i > 0 {
				r.WaitingText += ", "
			}
			r.WaitingText += k
		}
		s.rows = append(s.rows, *r)
	}
	sort.Slice(s.rows, func(i, j int) bool {
		if s.rows[i].Client != s.rows[j].Client {
			return s.rows[i].Client < s.rows[j].Client
		}
		return s.rows[i].Flow < s.rows[j].Flow
	})
	return s, nil
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

type bufWriter struct {
	h http.Header
	b bytes.Buffer
}

func (w *bufWriter) Header() http.Header         { return w.h }
func (w *bufWriter) WriteHeader(int)             {}
func (w *bufWriter) Write(p []byte) (int, error) { return w.b.Write(p) }
