package jobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"time"

	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// idemKey is the cpib-idem key of a client's Idempotency-Key: the raw key is
// hashed so no partner string reaches a subject.
func idemKey(client, key string) string {
	h := sha256.Sum256([]byte(key))
	return client + "." + hex.EncodeToString(h[:])
}

// requestHasher fingerprints what makes two submissions "the same
// request": the fields are written here, the payload is written by the
// caller (at once, or while it is streamed to the object store).
func requestHasher(sub Submission) hash.Hash {
	if sub.IdempotencyKey == "" {
		return noHash{} // nothing to compare the request with
	}
	h := sha256.New()
	for _, s := range []string{sub.Flow, sub.ContentType, sub.Query, sub.FlowPath, sub.CallbackURL} {
		fmt.Fprintf(h, "%d:%s|", len(s), s)
	}
	return h
}

// keyClaim is what claimKey found for a submission's Idempotency-Key.
type keyClaim struct {
	// found is the job of an earlier request with the key (its record, or
	// the record its queued message stands for): the answer is a replay.
	found *cpibv1.JobRecord
	// id is the job ID to publish under: a fresh one, or (takeover) the
	// ID of an earlier request whose job was never confirmed.
	id       string
	takeover bool
	// key and rev name the entry this request wrote or took over, so a
	// failed publish can release it; key is "" without an entry.
	key string
	rev uint64
}

// claimKey writes the idempotency entry as the first write of a submission
// (for a streamed payload, the first after the payload object). hash is the
// request's fingerprint (requestHasher plus the payload). It returns the
// replayed job, or the job ID to publish under, or an expected error.
//
// An entry whose job is found neither as a record nor as a queued message
// belongs to a request still in flight (409) unless it was released (its
// request ended without a confirmed job) or is older than InFlightWindow
// (its request crashed): then this request takes the job ID over and
// publishes it again. Nats-Msg-Id makes that safe if the first message
// landed after all: it is stored once.
func (s *Store) claimKey(ctx context.Context, sub Submission, id string, now time.Time, hash []byte) (keyClaim, error) {
	key := idemKey(sub.Client, sub.IdempotencyKey)
	entry, err := proto.Marshal(&cpibv1.IdempotencyEntry{JobId: id, BodyHash: hash, CreatedAt: timestamppb.New(now)})
	if err != nil {
		return keyClaim{}, fmt.Errorf("jobs: encode idempotency entry: %w", err)
	}
	rev, err := s.res.Idem.Create(ctx, key, entry)
	if err == nil {
		return keyClaim{id: id, key: key, rev: rev}, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return keyClaim{}, fmt.Errorf("%w: idempotency entry: %w", ErrUnavailable, err)
	}
	e, err := s.res.Idem.Get(ctx, key)
	if err != nil {
		return keyClaim{}, fmt.Errorf("%w: idempotency entry: %w", ErrUnavailable, err)
	}
	prev := &cpibv1.IdempotencyEntry{}
	if err := proto.Unmarshal(e.Value(), prev); err != nil {
		return keyClaim{}, fmt.Errorf("jobs: decode idempotency entry: %w", err)
	}
	if !bytes.Equal(prev.GetBodyHash(), hash) {
		return keyClaim{}, ErrIdempotencyKeyReused
	}
	rec, _, err := s.GetOwned(ctx, sub.Client, prev.GetJobId())
	switch {
	case err == nil:
		return keyClaim{found: rec, id: prev.GetJobId()}, nil
	case !errors.Is(err, ErrNotFound):
		return keyClaim{}, err
	}
	if !prev.GetReleased() && now.Sub(prev.GetCreatedAt().AsTime()) < s.cfg.InFlightWindow {
		return keyClaim{}, ErrIdempotencyKeyInUse
	}
	return keyClaim{id: prev.GetJobId(), takeover: true, key: key, rev: e.Revision()}, nil
}

// releaseKey marks the entry of c released after its request failed
// without a confirmed job, so a retry with the key need not wait for the
// in-flight window. Best effort: unreleased, the retry waits for it.
func (s *Store) releaseKey(ctx context.Context, c keyClaim) {
	if c.key == "" {
		return
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	e, err := s.res.Idem.Get(dctx, c.key)
	if err != nil || e.Revision() != c.rev {
		return // someone took it over meanwhile
	}
	prev := &cpibv1.IdempotencyEntry{}
	if proto.Unmarshal(e.Value(), prev) != nil {
		return
	}
	prev.Released = true
	if b, err := proto.Marshal(prev); err == nil {
		_, _ = s.res.Idem.Update(dctx, c.key, b, c.rev)
	}
}

// noHash is the fingerprint of a request without an Idempotency-Key: it
// is never compared, so it is not computed.
type noHash struct{}

func (noHash) Write(p []byte) (int, error) { return len(p), nil }
func (noHash) Sum(b []byte) []byte         { return b }
func (noHash) Reset()                      {}
func (noHash) Size() int                   { return 0 }
func (noHash) BlockSize() int              { return 1 }
