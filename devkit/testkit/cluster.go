package testkit

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// Cluster is a JetStream cluster of real nats-server instances in the test
// process, routed over loopback, each node with its own store directory.
// Client and route ports are fixed at start, so a stopped node restarts on
// the same addresses and clients holding every URL find it again.
type Cluster struct {
	T testing.TB
	// Name is the cluster name.
	Name string

	mu      sync.Mutex
	nodes   []*server.Server // nil while a node is down
	dirs    []string
	ports   []int // client ports
	routes  []int // route ports
	routeTo []*url.URL
}

// StartCluster starts an n-node JetStream cluster and returns once every
// node is up, a meta leader is elected and it sees all n peers. Every node
// is shut down at test cleanup.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	// A name of its own: a route that reaches another test's cluster (a
	// reused port) is refused instead of merging the two.
	c := &Cluster{T: t, Name: "cpib-" + nuid.Next(), nodes: make([]*server.Server, n)}
	ports := freePorts(t, 2*n)
	for i := 0; i < n; i++ {
		c.dirs = append(c.dirs, t.TempDir())
		c.ports = append(c.ports, ports[2*i])
		c.routes = append(c.routes, ports[2*i+1])
		c.routeTo = append(c.routeTo, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", c.routes[i])})
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.Stop(i)
		}
	})
	// Start the nodes together: each waits for routes before it is ready.
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.start(i)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("testkit: cluster: %v", err)
		}
	}
	c.WaitMetaLeader(n)
	return c
}

// freePorts returns n distinct free loopback ports (held together while
// they are picked, so they differ).
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testkit: free port: %v", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

func (c *Cluster) start(i int) error {
	ns, err := server.NewServer(&server.Options{
		ServerName: fmt.Sprintf("n%d", i+1),
		Host:       "127.0.0.1", Port: c.ports[i],
		JetStream: true, StoreDir: c.dirs[i],
		NoLog: true, NoSigs: true,
		Cluster: server.ClusterOpts{Name: c.Name, Host: "127.0.0.1", Port: c.routes[i]},
		// Every node, the first included, lists every route (nats.md 2.2).
		Routes: c.routeTo,
	})
	if err != nil {
		return fmt.Errorf("node %d: %w", i+1, err)
	}
	ns.Start()
	if !ns.ReadyForConnections(20 * time.Second) {
		ns.Shutdown()
		return fmt.Errorf("node %d not ready", i+1)
	}
	c.mu.Lock()
	c.nodes[i] = ns
	c.mu.Unlock()
	return nil
}

// URLs is the comma-separated client URL list of every node (--nats-url).
func (c *Cluster) URLs() string {
	us := make([]string, len(c.ports))
	for i, p := range c.ports {
		us[i] = fmt.Sprintf("nats://127.0.0.1:%d", p)
	}
	return strings.Join(us, ",")
}

// Node returns node i, or nil while it is down.
func (c *Cluster) Node(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// Size is the number of nodes, up or down.
func (c *Cluster) Size() int { return len(c.ports) }

// Stop shuts node i down (a lost node: its clients are cut off, its peers
// lose a member). Stopping a stopped node does nothing.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	ns := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if ns != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
	}
}

// Restart starts a stopped node again on its store and ports.
func (c *Cluster) Restart(i int) {
	c.T.Helper()
	if c.Node(i) != nil {
		return
	}
	if err := c.start(i); err != nil {
		c.T.Fatalf("testkit: cluster restart: %v", err)
	}
}

// WaitMetaLeader waits until some running node is the JetStream meta leader
// and sees want peers.
func (c *Cluster) WaitMetaLeader(want int) {
	c.T.Helper()
	Eventually(c.T, 30*time.Second, "a JetStream meta leader", func() bool {
		for i := range c.ports {
			if ns := c.Node(i); ns != nil && ns.JetStreamIsLeader() && len(ns.JetStreamClusterPeers()) >= want {
				return true
			}
		}
		return false
	})
}

// StreamLeader is the index of the node leading stream (in the global
// account), or -1 while it has none.
func (c *Cluster) StreamLeader(stream string) int {
	for i := range c.ports {
		if ns := c.Node(i); ns != nil && ns.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}

// WaitStreamLeader waits until stream has a leader among the running nodes
// and returns its index.
func (c *Cluster) WaitStreamLeader(stream string) int {
	c.T.Helper()
	leader := -1
	Eventually(c.T, 30*time.Second, "a leader of stream "+stream, func() bool {
		leader = c.StreamLeader(stream)
		return leader >= 0
	})
	return leader
}

// Connect opens a client connection to every node with the broker's
// connection settings; it is closed at test cleanup.
func (c *Cluster) Connect() (*nats.Conn, jetstream.JetStream) {
	c.T.Helper()
	nc, js, err := natsx.Connect(natsx.ConnectConfig{URLs: c.URLs(), Name: c.T.Name(), Logger: Logger(c.T)})
	if err != nil {
		c.T.Fatalf("testkit: connect to cluster: %v", err)
	}
	c.T.Cleanup(nc.Close)
	return nc, js
}

// StepDown asks stream's leader to step down through the JetStream API
// ($JS.API.STREAM.LEADER.STEPDOWN.<stream>), as an operator would, and
// waits until a different node leads it.
func (c *Cluster) StepDown(nc *nats.Conn, stream string) {
	c.T.Helper()
	before := c.WaitStreamLeader(stream)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.LEADER.STEPDOWN."+stream, nil)
	if err != nil {
		c.T.Fatalf("testkit: step down %s: %v", stream, err)
	}
	if !strings.Contains(string(resp.Data), `"success":true`) {
		c.T.Fatalf("testkit: step down %s: %s", stream, resp.Data)
	}
	Eventually(c.T, 30*time.Second, "a new leader of "+stream, func() bool {
		l := c.StreamLeader(stream)
		return l >= 0 && l != before
	})
}
