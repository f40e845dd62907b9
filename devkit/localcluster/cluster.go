package localcluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config says where the binaries, the deploy files and the data are.
type Config struct {
	// CPIBroker is the cpibroker binary run for every role. Default: this
	// process's own executable.
	CPIBroker string
	// NATSServer is the nats-server binary. Default bin/nats-server.
	NATSServer string
	// DeployDir holds nats/n1.conf..n3.conf and local/seed.yaml. Default deploy.
	DeployDir string
	// Dir holds every process's data and log. It must be the directory the
	// NATS configs' store_dir points into. Default data/cluster.
	Dir string
	// Fresh removes Dir before starting: a new cluster with no state.
	Fresh bool
	// PartnerSecret and AdminSecret are the seeded clients' secrets.
	// Default: random, printed at start.
	PartnerSecret, AdminSecret string
	// AckWait is the dispatchers' --ack-wait. Default 5s.
	AckWait time.Duration
	// Out receives progress lines. Default discard.
	Out io.Writer
}

func (c *Config) setDefaults() error {
	if c.CPIBroker == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("localcluster: own executable: %w", err)
		}
		c.CPIBroker = exe
	}
	if c.NATSServer == "" {
		c.NATSServer = filepath.Join("bin", "nats-server")
	}
	if c.DeployDir == "" {
		c.DeployDir = "deploy"
	}
	if c.Dir == "" {
		c.Dir = filepath.Join("data", "cluster")
	}
	if c.AckWait == 0 {
		c.AckWait = 5 * time.Second
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	for _, s := range []*string{&c.PartnerSecret, &c.AdminSecret} {
		if *s == "" {
			b := make([]byte, 18)
			if _, err := rand.Read(b); err != nil {
				return fmt.Errorf("localcluster: secret: %w", err)
			}
			*s = "cs_" + base64.RawURLEncoding.EncodeToString(b)
		}
	}
	return nil
}

// Validate reports missing binaries and files.
func (c *Config) Validate() error {
	var errs []error
	for _, f := range []string{c.CPIBroker, c.NATSServer, c.seed(), c.natsConf(1), c.natsConf(2), c.natsConf(3)} {
		if _, err := os.Stat(f); err != nil {
			errs = append(errs, fmt.Errorf("localcluster: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (c *Config) seed() string { return filepath.Join(c.DeployDir, "local", "seed.yaml") }
func (c *Config) natsConf(i int) string {
	return filepath.Join(c.DeployDir, "nats", fmt.Sprintf("n%d.conf", i))
}

// The fixed loopback addresses of the local cluster (the NATS ones are in
// deploy/nats/n*.conf).
const (
	NATSURLs   = "nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224"
	CPISimAddr = "127.0.0.1:8081"
)

// Ingresses are the partner API base URLs of the two ingress processes.
func Ingresses() []string { return []string{"http://127.0.0.1:8080", "http://127.0.0.1:8090"} }

// Cluster is the running local deployment.
type Cluster struct {
	cfg   Config
	mu    sync.Mutex
	procs map[string]*proc
	order []string
}

type proc struct {
	name  string
	args  []string // binary first
	ready string   // URL answering 200 once the process is ready
	nats  bool
	cmd   *exec.Cmd
	log   *os.File
	done  chan struct{}
}

// Start launches the three NATS servers, the simulator, two ingresses and
// two dispatchers, each waited for (NATS /healthz with JetStream, the
// simulator's token endpoint, cpibroker /readyz).
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Fresh {
		if err := os.RemoveAll(cfg.Dir); err != nil {
			return nil, fmt.Errorf("localcluster: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "logs"), 0o700); err != nil {
		return nil, fmt.Errorf("localcluster: %w", err)
	}
	c := &Cluster{cfg: cfg, procs: map[string]*proc{}}
	for _, p := range c.plan() {
		c.procs[p.name] = p
		c.order = append(c.order, p.name)
	}
	// NATS nodes together (each waits for its routes), then the rest.
	for _, group := range [][]string{{"n1", "n2", "n3"}, {"cpisim"}, {"ingress-1", "ingress-2", "dispatcher-1", "dispatcher-2"}} {
		for _, name := range group {
			if err := c.start(c.procs[name]); err != nil {
				c.Stop()
				return nil, err
			}
		}
		for _, name := range group {
			if err := c.waitReady(ctx, c.procs[name], time.Minute); err != nil {
				c.Stop()
				return nil, err
			}
		}
	}
	return c, nil
}

// Commands lists the command line of every process of the local cluster
// (binary first), for documentation and for the test that checks every
// cpibroker flag exists.
func Commands(cfg Config) [][]string {
	_ = cfg.setDefaults()
	c := &Cluster{cfg: cfg}
	var out [][]string
	for _, p := range c.plan() {
		out = append(out, p.args)
	}
	return out
}

func (c *Cluster) plan() []*proc {
	cfg := c.cfg
	var ps []*proc
	for i := 1; i <= 3; i++ {
		ps = append(ps, &proc{
			name: fmt.Sprintf("n%d", i), nats: true,
			args: []string{cfg.NATSServer, "--config", cfg.natsConf(i)},
			// Plain /healthz: JetStream is up and current with the meta leader.
			ready: fmt.Sprintf("http://127.0.0.1:%d/healthz", 8221+i),
		})
	}
	ps = append(ps, &proc{
		name:  "cpisim",
		args:  []string{cfg.CPIBroker, "cpisim", "--listen", CPISimAddr},
		ready: "http://" + CPISimAddr + "/sim/v1/iflows",
	})
	common := []string{"--nats-url", NATSURLs, "--replicas", "3", "--log-level", "info"}
	for i, base := range Ingresses() {
		name := fmt.Sprintf("ingress-%d", i+1)
		admin := fmt.Sprintf("127.0.0.1:%d", 9180+10*i)
		ps = append(ps, &proc{
			name: name, ready: "http://" + admin + "/readyz",
			args: append([]string{cfg.CPIBroker, "ingress",
				"--listen", strings.TrimPrefix(base, "http://"), "--admin-listen", admin,
				// One issuer for both: a token of either works at both.
				"--public-url", Ingresses()[0],
				"--data-dir", filepath.Join(cfg.Dir, name), "--config", cfg.seed()}, common...),
		})
	}
	for i := range 2 {
		name := fmt.Sprintf("dispatcher-%d", i+1)
		admin := fmt.Sprintf("127.0.0.1:%d", 9280+10*i)
		ps = append(ps, &proc{
			name: name, ready: "http://" + admin + "/readyz",
			args: append([]string{cfg.CPIBroker, "dispatcher", "--admin-listen", admin,
				"--data-dir", filepath.Join(cfg.Dir, name), "--ack-wait", cfg.AckWait.String()}, common...),
		})
	}
	return ps
}

func (c *Cluster) start(p *proc) error {
	f, err := os.OpenFile(filepath.Join(c.cfg.Dir, "logs", p.name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("localcluster: %w", err)
	}
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(),
		"CPISIM_URL=http://"+CPISimAddr,
		"PARTNER_SECRET="+c.cfg.PartnerSecret, "ADMIN_SECRET="+c.cfg.AdminSecret)
	// Its own process group: Ctrl-C on the terminal reaches this driver
	// only, which stops the processes in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("localcluster: start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(done)
	}()
	c.mu.Lock()
	p.cmd, p.log, p.done = cmd, f, done
	c.mu.Unlock()
	fmt.Fprintf(c.cfg.Out, "started %-12s pid %d\n", p.name, cmd.Process.Pid)
	return nil
}

func (c *Cluster) waitReady(ctx context.Context, p *proc, limit time.Duration) error {
	end := time.Now().Add(limit)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(p.ready)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("localcluster: %s exited; see %s", p.name, filepath.Join(c.cfg.Dir, "logs", p.name+".log"))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(end) {
			return fmt.Errorf("localcluster: %s not ready within %s (%s)", p.name, limit, p.ready)
		}
	}
}

// Names lists the processes in start order.
func (c *Cluster) Names() []string { return append([]string(nil), c.order...) }

// Kill sends SIGKILL to a process and waits until it is gone.
func (c *Cluster) Kill(name string) error {
	p, ok := c.procs[name]
	if !ok {
		return fmt.Errorf("localcluster: no process %q", name)
	}
	c.mu.Lock()
	cmd, done := p.cmd, p.done
	c.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Kill()
	<-done
	return nil
}

// Restart starts a killed process again and waits until it is ready.
func (c *Cluster) Restart(ctx context.Context, name string) error {
	p, ok := c.procs[name]
	if !ok {
		return fmt.Errorf("localcluster: no process %q", name)
	}
	if err := c.start(p); err != nil {
		return err
	}
	return c.waitReady(ctx, p, 2*time.Minute)
}

// Stop ends every process: cpibroker processes with SIGTERM (they drain),
// then the simulator and the NATS servers.
func (c *Cluster) Stop() {
	for i := len(c.order) - 1; i >= 0; i-- {
		p := c.procs[c.order[i]]
		c.mu.Lock()
		cmd, done := p.cmd, p.done
		c.mu.Unlock()
		if cmd == nil {
			continue
		}
		select {
		case <-done:
			continue
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
}

// Wait blocks until ctx ends or a process exits on its own, and says which.
func (c *Cluster) Wait(ctx context.Context) error {
	cases := make(chan string, len(c.order))
	for _, name := range c.order {
		c.mu.Lock()
		done := c.procs[name].done
		c.mu.Unlock()
		go func() {
			select {
			case <-done:
				cases <- name
			case <-ctx.Done():
			}
		}()
	}
	select {
	case <-ctx.Done():
		return nil
	case name := <-cases:
		return fmt.Errorf("localcluster: %s exited; see %s", name, filepath.Join(c.cfg.Dir, "logs", name+".log"))
	}
}

// Config returns the effective configuration (secrets included).
func (c *Cluster) Config() Config { return c.cfg }
