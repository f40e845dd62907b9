package delivery_test

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// warnings is a slog handler that keeps the records at WARN and above.
type warnings struct {
	mu   *sync.Mutex
	msgs *[]string
}

func (w warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool { msg += " " + a.String(); return true })
	*w.msgs = append(*w.msgs, msg)
	return nil
}
func (w warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w warnings) WithGroup(string) slog.Handler      { return w }

// An event that reaches the fan-out after shutdown began (a job finished
// during the grace period) goes back to JetStream for the next process;
// the canceled context is not logged as a warning.
func TestShutdownFanOutIsNotAWarning(t *testing.T) {
	var (
		mu   sync.Mutex
		msgs []string
	)
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.Logger = slog.New(warnings{mu: &mu, msgs: &msgs})
		// The fan-out's pull stays open well past the cancel.
		c.Delivery.IdleWait = 20 * time.Second
	}})
	a := admin(t, sys)
	hook := newReceiver(t, nil)
	setWebhooks(t, a, webhookSpec{ID: "wh-1", URL: hook.url("/hooks"), Events: allEvents, Enabled: true})
	flow := sys.AddFlow(cpisim.IFlow{ID: "Lagging", Name: "Lagging", Address: "/t/lagging",
		Faults: cpisim.Faults{Latency: 1500 * time.Millisecond}}, nil)
	p := sys.Partner()
	id := submit(t, p, flow, `{"n":1}`, nil)
	testkit.Eventually(t, 30*time.Second, "the job running", func() bool {
		var j testkit.Job
		p.Do(http.MethodGet, "/v1/jobs/"+id, nil, nil).JSON(t, &j)
		return j.Status == "running"
	})
	// The job finishes within the grace period; its event is published
	// while the deliverer is stopping.
	if err := sys.Broker.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, m := range msgs {
		t.Errorf("warning at shutdown: %s", m)
	}
}
