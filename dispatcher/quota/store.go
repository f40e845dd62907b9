package quota

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Kind is what a budget limits.
type Kind int

// Budget kinds.
const (
	// Rate is a token bucket: Rate tokens per second up to Burst.
	Rate Kind = iota
	// Concurrency bounds calls in flight to Limit.
	Concurrency
	// Allow bounds calls per calendar Interval to Limit.
	Allow
)

// String names the kind as the waiting reason a job shows.
func (k Kind) String() string {
	if k == Concurrency {
		return "concurrency"
	}
	return "quota"
}

// Spec is one budget's limit.
type Spec struct {
	Kind Kind
	// Rate is tokens per second (Rate).
	Rate float64
	// Limit is the burst (Rate), the most calls in flight (Concurrency) or
	// per window (Allow).
	Limit int
	// Interval is the Allow window: time.Minute, time.Hour or 24h (UTC
	// days).
	Interval time.Duration
}

// Window returns the start of the Allow window holding t.
func (s Spec) Window(t time.Time) time.Time { return t.UTC().Truncate(s.Interval) }

// state is the KV value of one budget.
type state struct {
	// Tokens in the bucket (Rate) as of At (Unix nanoseconds).
	Tokens float64 `json:"t,omitempty"`
	At     int64   `json:"at,omitempty"`
	// Used counts permits taken in the window (Allow).
	Used int `json:"u,omitempty"`
	// Holds are the permits each dispatcher holds (Rate: unused tokens;
	// Concurrency: in flight plus unused).
	Holds map[string]hold `json:"h,omitempty"`
}

type hold struct {
	N   int   `json:"n"`
	Exp int64 `json:"exp"`
}

// Store leases budgets from the cpib-quota bucket for one holder.
type Store struct {
	kv     jetstream.KeyValue
	holder string
	ttl    time.Duration
}

// NewStore returns a Store writing holds as holder with the given TTL.
func NewStore(kv jetstream.KeyValue, holder string, ttl time.Duration) *Store {
	return &Store{kv: kv, holder: holder, ttl: ttl}
}

// Holder is the name this store holds budgets under.
func (s *Store) Holder() string { return s.holder }

// TTL is how long a hold lives without renewal.
func (s *Store) TTL() time.Duration { return s.ttl }

// Request is one exchange with a budget: the holder reports what it holds
// and asks for more.
type Request struct {
	// Keep is what the holder keeps of its hold (Rate: unused tokens it
	// keeps; Concurrency: permits in flight plus unused ones it keeps).
	// Ignored for Allow.
	Keep int
	// Return is what the holder gives back unused: tokens back into the
	// bucket (Rate) or permits back to the window (Allow). For Rate, Keep
	// must already exclude them.
	Return int
	// Want is how many more permits the holder asks for (0: just report).
	Want int
}

// Grant is the answer to a Request.
type Grant struct {
	// Got permits were added to the hold.
	Got int
	// Until is when the hold expires unless renewed.
	Until time.Time
	// Next is when more permits may be available, when Got < Want: the next
	// whole token (Rate) or the next window (Allow). Zero for Concurrency,
	// which frees by releases.
	Next time.Time
}

// ErrInvalid: a spec that limits nothing.
var ErrInvalid = errors.New("quota: invalid spec")

// Bounds of a Spec: the dispatcher clamps what the catalog allows into
// them, and Exchange refuses anything else.
const (
	// MaxRate is the highest Rate (tokens per second).
	MaxRate = 1e9
	// MaxLimit is the highest Limit.
	MaxLimit = 1 << 30
)

// Exchange applies r to the budget at key with compare-and-set, retrying
// on conflicts with other dispatchers.
func (s *Store) Exchange(ctx context.Context, key string, spec Spec, now time.Time, r Request) (Grant, error) {
	if spec.Limit < 0 || spec.Limit > MaxLimit || (spec.Kind == Rate && !(spec.Rate > 0 && spec.Rate <= MaxRate)) ||
		(spec.Kind == Allow && spec.Interval <= 0) {
		return Grant{}, ErrInvalid
	}
	for i := 0; ; i++ {
		var st state
		var rev uint64
		e, err := s.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return Grant{}, fmt.Errorf("quota: read %s: %w", key, err)
		default:
			rev = e.Revision()
			if err := json.Unmarshal(e.Value(), &st); err != nil {
				st = state{} // unreadable: start afresh rather than block forever
			}
		}
		g := st.apply(spec, s.holder, now, s.ttl, r)
		b, err := json.Marshal(st)
		if err != nil {
			return Grant{}, fmt.Errorf("quota: encode %s: %w", key, err)
		}
		if rev == 0 {
			_, err = s.kv.Create(ctx, key, b)
		} else {
			_, err = s.kv.Update(ctx, key, b, rev)
		}
		if err == nil {
			return g, nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) {
			return Grant{}, fmt.Errorf("quota: write %s: %w", key, err)
		}
		if i >= 50 {
			return Grant{}, fmt.Errorf("quota: %s: too much contention", key)
		}
		// Another dispatcher wrote first: read again after a short jitter.
		select {
		case <-ctx.Done():
			return Grant{}, ctx.Err()
		case <-time.After(time.Duration(rand.Int64N(int64(time.Millisecond) * int64(1+min(i, 10))))):
		}
	}
}

// Delete removes a budget key (an Allow window that is over).
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return err
	}
	return nil
}

// apply changes st for one request and returns the grant.
func (st *state) apply(spec Spec, holder string, now time.Time, ttl time.Duration, r Request) Grant {
	nowN := now.UnixNano()
	held := 0
	for h, v := range st.Holds {
		if v.Exp <= nowN {
			delete(st.Holds, h) // its holder died: the permits come back
			continue
		}
		if h != holder {
			held += v.N
		}
	}
	g := Grant{Until: now.Add(ttl)}
	switch spec.Kind {
	case Rate:
		// Refill up to the burst less what everyone else holds and what this
		// holder keeps; tokens this holder used are gone.
		keep := max(r.Keep, 0)
		room := float64(spec.Limit - held - keep)
		if st.At == 0 {
			st.Tokens, st.At = float64(spec.Limit), nowN
		}
		if nowN > st.At {
			st.Tokens += float64(nowN-st.At) / 1e9 * spec.Rate
			st.At = nowN
		}
		st.Tokens += float64(max(r.Return, 0))
		st.Tokens = math.Max(0, math.Min(st.Tokens, room))
		got := min(r.Want, int(math.Floor(st.Tokens+1e-9)))
		got = max(got, 0)
		st.Tokens -= float64(got)
		st.setHold(holder, keep+got, nowN+int64(ttl))
		g.Got = got
		if got < r.Want {
			need := 1 - (st.Tokens - math.Floor(st.Tokens+1e-9))
			g.Next = now.Add(time.Duration(math.Ceil(need / spec.Rate * 1e9)))
		}
	case Concurrency:
		keep := max(r.Keep, 0)
		got := max(0, min(r.Want, spec.Limit-held-keep))
		st.setHold(holder, keep+got, nowN+int64(ttl))
		g.Got = got
	case Allow:
		st.Used = max(0, st.Used-max(r.Return, 0))
		got := max(0, min(r.Want, spec.Limit-st.Used))
		st.Used += got
		g.Got = got
		g.Until = spec.Window(now).Add(spec.Interval)
		if got < r.Want {
			g.Next = g.Until
		}
	}
	return g
}

func (st *state) setHold(holder string, n int, exp int64) {
	if n <= 0 {
		delete(st.Holds, holder)
		return
	}
	if st.Holds == nil {
		st.Holds = map[string]hold{}
	}
	st.Holds[holder] = hold{N: n, Exp: exp}
}
