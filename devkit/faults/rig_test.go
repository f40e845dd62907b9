package faults_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// ackWait is the redelivery delay of a job whose dispatcher vanished: short,
// so a test sees redelivery quickly.
const ackWait = 2 * time.Second

// rig is a 3-node JetStream cluster with R3 streams and buckets, ingress
// processes and dispatcher processes (each a broker with its own NATS
// connection to every node), the CPI simulator and one flow.
type rig struct {
	t       *testing.T
	cl      *testkit.Cluster
	nc      *nats.Conn
	js      jetstream.JetStream
	first   *testkit.System
	ingress []*testkit.System
	disp    []*testkit.System
	flow    string
	iflow   string
	token   string
	http    *http.Client

	events *eventCounter
}

type rigOptions struct {
	ingresses, dispatchers int
	iflow                  cpisim.IFlow
	policy                 func(*catalog.Policy)
	configure              func(*broker.Config)
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	r := &rig{t: t, cl: testkit.StartCluster(t, 3), http: &http.Client{Timeout: 60 * time.Second}}
	r.nc, r.js = r.cl.Connect()
	r.first = testkit.Start(t, r.options(true, false, nil, o.configure))
	r.ingress = append(r.ingress, r.first)
	if o.iflow.Address == "" {
		o.iflow.Address = "/" + strings.ToLower(o.iflow.ID)
	}
	r.iflow = o.iflow.ID
	r.flow = r.first.AddFlow(o.iflow, func(p *catalog.Policy) {
		p.Rate, p.Concurrency = 0, 0
		if o.policy != nil {
			o.policy(p)
		}
	})
	for range o.ingresses - 1 {
		r.ingress = append(r.ingress, testkit.Start(t, r.options(true, false, r.first, o.configure)))
	}
	for range o.dispatchers {
		r.addDispatcher(o.configure)
	}
	r.token = testkit.Token(t, r.first.BaseURL, r.first.Creds.Partner.ClientID, r.first.Creds.Partner.ClientSecret, "")
	r.events = countEvents(t, r.js)
	return r
}

func (r *rig) options(ingress, dispatcher bool, join *testkit.System, configure func(*broker.Config)) testkit.Options {
	return testkit.Options{
		NATSURLs: r.cl.URLs(), Replicas: 3, NoIngress: !ingress, NoDispatcher: !dispatcher, Join: join,
		Configure: func(c *broker.Config) {
			c.Layout.AckWait = ackWait
			c.Jobs.StoreTimeout = 10 * time.Second
			c.DispatcherConfig.Grace = time.Second
			// Quieter background than testkit's 200 ms: several brokers
			// share each test, and new consumers are found by advisory.
			c.DispatcherConfig.ReconcileInterval = time.Second
			c.Delivery.ReconcileInterval = 2 * time.Second
			if configure != nil {
				configure(c)
			}
		},
	}
}

// addDispatcher starts one more dispatcher-only broker.
func (r *rig) addDispatcher(configure func(*broker.Config)) *testkit.System {
	s := testkit.Start(r.t, r.options(false, true, r.first, configure))
	r.disp = append(r.disp, s)
	return s
}

// submit posts one job to ingress i and returns the status, the problem
// code and the job ID.
func (r *rig) submit(i int, body string) (status int, code, id string, err error) {
	req, err := http.NewRequest(http.MethodPost, r.ingress[i%len(r.ingress)].BaseURL+"/v1/flows/"+r.flow+"/jobs", strings.NewReader(body))
	if err != nil {
		return 0, "", "", err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.http.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v struct {
		ID   string `json:"id"`
		Code string `json:"code"`
	}
	_ = json.Unmarshal(b, &v)
	return resp.StatusCode, v.Code, v.ID, nil
}

// load submits n jobs with w workers spread over the ingresses. A job
// refused with 503 unavailable (or whose request failed) is submitted
// again, as a partner does; any other answer but 202 fails the test.
// fault runs once, on its own goroutine, when `at` jobs are accepted.
// load returns the IDs of the accepted jobs and how many submits were
// refused.
func (r *rig) load(n, w, at int, fault func()) (ids []string, refused int64) {
	r.t.Helper()
	var (
		next, accepted atomic.Int64
		mu             sync.Mutex
		wg             sync.WaitGroup
		faultDone      = make(chan struct{})
		once           sync.Once
	)
	if fault == nil {
		close(faultDone)
	}
	for k := range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				for try := 0; ; try++ {
					status, code, id, err := r.submit(k+try, `{"n":`+itoa(i)+`}`)
					if err == nil && status == http.StatusAccepted {
						mu.Lock()
						ids = append(ids, id)
						mu.Unlock()
						if accepted.Add(1) == int64(at) && fault != nil {
							once.Do(func() { go func() { defer close(faultDone); fault() }() })
						}
						break
					}
					if err == nil && (status != http.StatusServiceUnavailable || code != "unavailable") {
						r.t.Errorf("submit %d: status %d code %q", i, status, code)
						return
					}
					atomic.AddInt64(&refused, 1)
					if try > 200 {
						r.t.Errorf("submit %d: still refused after %d tries (%v)", i, try, err)
						return
					}
					time.Sleep(50 * time.Millisecond) // a partner's retry pause
				}
			}
		}()
	}
	wg.Wait()
	<-faultDone
	return ids, refused
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// eventCounter counts terminal events per job on the EVENTS stream, read
// from the start by an ordered consumer.
type eventCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func countEvents(t *testing.T, js jetstream.JetStream) *eventCounter {
	t.Helper()
	ec := &eventCounter{n: map[string]int{}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, natsx.StreamEvents, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("events consumer: %v", err)
	}
	cc, err := c.Consume(func(m jetstream.Msg) {
		ec.mu.Lock()
		ec.n[m.Headers().Get(jobs.HeaderJobID)]++
		ec.mu.Unlock()
	})
	if err != nil {
		t.Fatalf("events consume: %v", err)
	}
	t.Cleanup(cc.Stop)
	return ec
}

func (ec *eventCounter) count(id string) int {
	ec.mu.Lock()
	defer ec.mu.Unlock()
	return ec.n[id]
}

func (ec *eventCounter) total() int {
	ec.mu.Lock()
	defer ec.mu.Unlock()
	return len(ec.n)
}

// verify waits until every accepted job has its terminal event, then
// checks each ended exactly once: one terminal event and a terminal
// record with the wanted status.
func (r *rig) verify(ids []string, want cpibv1.JobStatus, deadline time.Duration) {
	r.t.Helper()
	// Right after nodes come back the bucket lookup can time out while
	// the cluster elects its leaders: look again until the deadline.
	var kv jetstream.KeyValue
	testkit.Eventually(r.t, deadline, "the jobs bucket reachable", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		kv, err = r.js.KeyValue(ctx, natsx.BucketJobs)
		return err == nil
	})
	missing := func() (n int, first string) {
		for _, id := range ids {
			if r.events.count(id) == 0 {
				if n == 0 {
					first = id
				}
				n++
			}
		}
		return n, first
	}
	for end := time.Now().Add(deadline); ; time.Sleep(20 * time.Millisecond) {
		n, first := missing()
		if n == 0 {
			break
		}
		if time.Now().After(end) {
			rec, _ := r.record(kv, first)
			r.dumpJobs()
			r.t.Fatalf("after %v, %d of %d accepted jobs have no terminal event; one of them: %v", deadline, n, len(ids), rec)
		}
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			r.t.Errorf("job %s accepted twice", id)
		}
		seen[id] = true
		if n := r.events.count(id); n != 1 {
			r.t.Errorf("job %s has %d terminal events, want 1", id, n)
		}
		rec, err := r.record(kv, id)
		if err != nil || rec.GetStatus() != want || rec.GetRun() != 1 {
			r.t.Errorf("job %s: record %v run %d (%v), want %v run 1", id, rec.GetStatus(), rec.GetRun(), err, want)
		}
	}
	if extra := r.events.total() - len(ids); extra > 0 {
		// A submit answered 503 whose message was stored after all: it
		// runs, which is allowed; a 202 for an unstored job is not.
		r.t.Logf("%d jobs refused with 503 ran anyway", extra)
	}
}

func (r *rig) record(kv jetstream.KeyValue, id string) (*cpibv1.JobRecord, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := kv.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	rec := &cpibv1.JobRecord{}
	return rec, proto.Unmarshal(e.Value(), rec)
}

// dumpJobs logs what the JOBS stream holds and its consumers' state, to
// tell a lost schedule from an unpulled message when a job is stuck.
func (r *rig) dumpJobs() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := r.js.Stream(ctx, natsx.StreamJobs)
	if err != nil {
		r.t.Logf("JOBS: %v", err)
		return
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter("cpib.jobs.>"))
	if err != nil {
		r.t.Logf("JOBS info: %v", err)
		return
	}
	r.t.Logf("JOBS: %d messages, subjects %v", info.State.Msgs, info.State.Subjects)
	for name := range s.ConsumerNames(ctx).Name() {
		c, err := s.Consumer(ctx, name)
		if err != nil {
			continue
		}
		ci, err := c.Info(ctx)
		if err == nil {
			r.t.Logf("consumer %s: pending %d, ack pending %d, redelivered %d, waiting %d, delivered %d", name, ci.NumPending, ci.NumAckPending, ci.NumRedelivered, ci.NumWaiting, ci.Delivered.Stream)
		}
	}
}
