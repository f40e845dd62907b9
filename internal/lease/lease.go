package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Expected outcomes.
var (
	// ErrHeld: another holder has the lease and it has not expired.
	ErrHeld = errors.New("lease: held by another holder")
	// ErrLost: the lease expired and was taken over, or was deleted, since
	// this holder last wrote it.
	ErrLost = errors.New("lease: lost")
)

// Config configures a Manager.
type Config struct {
	// KV is the cpib-leases bucket.
	KV jetstream.KeyValue
	// Holder names this process in the leases it takes. Default: the host
	// name, the process ID and a random suffix.
	Holder string
	// TTL is how long a lease lasts without a renewal. Default 15s.
	TTL time.Duration
	// RenewEvery is how often Run and Do renew a held lease. Default TTL/3.
	RenewEvery time.Duration
	// RetryEvery is how often Run tries again to take a lease held by
	// someone else. Default TTL/3.
	RetryEvery time.Duration
	// Now is the clock expiries are computed and judged with. Default time.Now.
	Now func() time.Time
	// Log receives lease changes. Default: discard.
	Log *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Holder == "" {
		c.Holder = defaultHolder()
	}
	if c.TTL == 0 {
		c.TTL = 15 * time.Second
	}
	if c.RenewEvery == 0 {
		c.RenewEvery = c.TTL / 3
	}
	if c.RetryEvery == 0 {
		c.RetryEvery = c.TTL / 3
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Validate reports an unusable configuration.
func (c *Config) Validate() error {
	switch {
	case c.KV == nil:
		return errors.New("lease: KV bucket is required")
	case c.TTL < time.Millisecond:
		return errors.New("lease: TTL must be at least 1ms")
	case c.RenewEvery <= 0 || c.RenewEvery >= c.TTL:
		return errors.New("lease: RenewEvery must be > 0 and shorter than TTL")
	case c.RetryEvery <= 0:
		return errors.New("lease: RetryEvery must be > 0")
	}
	return nil
}

func defaultHolder() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Manager takes, renews and releases leases for one holder.
type Manager struct {
	cfg Config
}

// New returns a Manager with cfg's defaults filled in.
func New(cfg Config) (*Manager, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Manager{cfg: cfg}, nil
}

// Holder is the name this Manager writes into its leases.
func (m *Manager) Holder() string { return m.cfg.Holder }

// record is the stored value of a lease.
type record struct {
	Holder    string    `json:"holder"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Info describes a lease as stored.
type Info struct {
	Name      string
	Holder    string
	ExpiresAt time.Time
	Revision  uint64
}

// Lease is a lease this Manager holds.
type Lease struct {
	m    *Manager
	name string
	rev  uint64
	exp  time.Time
}

// Name is the lease's name.
func (l *Lease) Name() string { return l.name }

// ExpiresAt is when the lease ends unless renewed.
func (l *Lease) ExpiresAt() time.Time { return l.exp }

// Revision is the KV revision this holder last wrote.
func (l *Lease) Revision() uint64 { return l.rev }

// validName reports whether name is usable as a KV key.
func validName(name string) bool {
	if name == "" || name[0] == '.' || name[len(name)-1] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == '=' || c == '/':
		default:
			return false
		}
	}
	return true
}

func (m *Manager) encode() ([]byte, time.Time) {
	exp := m.cfg.Now().Add(m.cfg.TTL)
	b, _ := json.Marshal(record{Holder: m.cfg.Holder, ExpiresAt: exp}) // cannot fail
	return b, exp
}

// Get returns the stored state of a lease, expired or not; ErrNotFound
// (jetstream.ErrKeyNotFound) when nobody holds it.
func (m *Manager) Get(ctx context.Context, name string) (Info, error) {
	e, err := m.cfg.KV.Get(ctx, name)
	if err != nil {
		return Info{}, fmt.Errorf("lease %s: %w", name, err)
	}
	var r record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return Info{}, fmt.Errorf("lease %s: unreadable value: %w", name, err)
	}
	return Info{Name: name, Holder: r.Holder, ExpiresAt: r.ExpiresAt, Revision: e.Revision()}, nil
}

// Acquire takes the lease name: creates it when nobody holds it, or takes
// it over with a compare-and-set when its holder let it expire (or when
// this holder had it, after a restart). ErrHeld when another holder has
// it and it has not expired.
func (m *Manager) Acquire(ctx context.Context, name string) (*Lease, error) {
	if !validName(name) {
		return nil, fmt.Errorf("lease: invalid name %q", name)
	}
	val, exp := m.encode()
	rev, err := m.cfg.KV.Create(ctx, name, val)
	if err == nil {
		m.cfg.Log.Debug("lease acquired", "lease", name, "holder", m.cfg.Holder)
		return &Lease{m: m, name: name, rev: rev, exp: exp}, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("lease %s: create: %w", name, err)
	}
	cur, err := m.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, ErrHeld // released between our Create and Get; the caller retries
	}
	if err != nil {
		return nil, err
	}
	if cur.Holder != m.cfg.Holder && m.cfg.Now().Before(cur.ExpiresAt) {
		return nil, ErrHeld
	}
	val, exp = m.encode()
	rev, err = m.cfg.KV.Update(ctx, name, val, cur.Revision)
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return nil, ErrHeld // someone else took it over first
	}
	if err != nil {
		return nil, fmt.Errorf("lease %s: take over: %w", name, err)
	}
	m.cfg.Log.Info("lease taken over", "lease", name, "holder", m.cfg.Holder, "previous", cur.Holder)
	return &Lease{m: m, name: name, rev: rev, exp: exp}, nil
}

// Renew extends the lease by the TTL. ErrLost when it expired and someone
// else took it, or it was deleted, since this holder last wrote it.
func (l *Lease) Renew(ctx context.Context) error {
	val, exp := l.m.encode()
	rev, err := l.m.cfg.KV.Update(ctx, l.name, val, l.rev)
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) ||
		errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("lease %s: %w", l.name, ErrLost)
	}
	if err != nil {
		return fmt.Errorf("lease %s: renew: %w", l.name, err)
	}
	l.rev, l.exp = rev, exp
	return nil
}

// Release gives the lease up at once, unless someone else holds it by now
// (then it is left alone and ErrLost returned).
func (l *Lease) Release(ctx context.Context) error {
	err := l.m.cfg.KV.Delete(ctx, l.name, jetstream.LastRevision(l.rev))
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return fmt.Errorf("lease %s: %w", l.name, ErrLost)
	}
	if err != nil {
		return fmt.Errorf("lease %s: release: %w", l.name, err)
	}
	l.m.cfg.Log.Debug("lease released", "lease", l.name, "holder", l.m.cfg.Holder)
	return nil
}
