package webui

import (
	"fmt"
	"html/template"
	"strings"
)

// Sparkline draws values (oldest first) as a small inline SVG line chart
// with an accessible label and the latest value, without any script.
func Sparkline(label string, values []float64) template.HTML {
	const w, h, pad = 240.0, 48.0, 2.0
	max := 0.0
	for _, v := range values {
		max = mathMax(max, v)
	}
	var pts strings.Builder
	n := len(values)
	for i, v := range values {
		x := w
		if n > 1 {
			x = pad + (w-2*pad)*float64(i)/float64(n-1)
		}
		y := h - pad
		if max > 0 {
			y = h - pad - (h-2*pad)*v/max
		}
		fmt.Fprintf(&pts, "%.1f,%.1f ", x, y)
	}
	last := 0.0
	if n > 0 {
		last = values[n-1]
	}
	desc := fmt.Sprintf("%s over the last hour: now %s, peak %s", label, num(last), num(max))
	return template.HTML(fmt.Sprintf( //nolint:gosec // numbers and an escaped label only
		`<figure class="chart"><svg viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="%s">`+
			`<title>%s</title><polyline fill="none" stroke="currentColor" stroke-width="2" points="%s"/></svg>`+
			`<figcaption>%s <strong>%s</strong></figcaption></figure>`,
		w, h, w, h, template.HTMLEscapeString(desc), template.HTMLEscapeString(desc), strings.TrimSpace(pts.String()),
		template.HTMLEscapeString(label), num(last)))
}

func mathMax(a, b float64) float64 {
	if b > a {
		return b
	}
	return a
}

func num(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.2f", v)
}

// SeriesView are the overview's chart series (oldest first).
type SeriesView struct {
	Accepted, Completed, Failed, Backlog, CPIMeanMS []float64
}
