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
	h := sha256.New()
	for _, s := range []string{sub.Flow, sub.ContentType, sub.Query, sub.FlowPath, sub.CallbackURL} {
		fmt.Fprintf(h, "%d:%s|", len(s), s)
	}
	return h
}

// claimKey writes the idempotency entry as the first write of a submission
// (for a streamed payload, the first after the payload object). hash is the
// request's fingerprint (requestHasher plus the payload). It returns either
// a replayed job (Accepted.Record set), the job ID to publish under (a
// fresh one, or the ID of an earlier request that never got its record
// written and is now taken over), or an expected error.
func (s *Store) claimKey(ctx context.Context, sub Submission, id string, now time.Time, hash []byte) (Accepted, string, error) {
	key := idemKey(sub.Client, sub.IdempotencyKey)
	entry, err := proto.Marshal(&cpibv1.IdempotencyEntry{JobId: id, BodyHash: hash, CreatedAt: timestamppb.New(now)})
	if err != nil {
		return Accepted{}, "", fmt.Errorf("jobs: encode idempotency entry: %w", err)
	}
	_, err = s.res.Idem.Create(ctx, key, entry)
	if err == nil {
		return Accepted{}, id, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return Accepted{}, "", fmt.Errorf("%w: idempotency entry: %w", ErrUnavailable, err)
	}
	e, err := s.res.Idem.Get(ctx, key)
	if err != nil {
		return Accepted{}, "", fmt.Errorf("%w: idempotency entry: %w", ErrUnavailable, err)
	}
	prev := &cpibv1.IdempotencyEntry{}
	if err := proto.Unmarshal(e.Value(), prev); err != nil {
		return Accepted{}, "", fmt.Errorf("jobs: decode idempotency entry: %w", err)
	}
	if !bytes.Equal(prev.GetBodyHash(), hash) {
		return Accepted{}, "", ErrIdempotencyKeyReused
	}
	rec, _, err := s.Get(ctx, prev.GetJobId())
	switch {
	case err == nil:
		return Accepted{Record: rec, Replayed: true}, prev.GetJobId(), nil
	case !errors.Is(err, ErrNotFound):
		return Accepted{}, "", err
	}
	if now.Sub(prev.GetCreatedAt().AsTime()) < s.cfg.InFlightWindow {
		return Accepted{}, "", ErrIdempotencyKeyInUse
	}
	// The first request wrote its key but never its job (it crashed or
	// JetStream refused it). Publish under the same ID: Nats-Msg-Id makes
	// this safe if the first message did land.
	return Accepted{}, prev.GetJobId(), nil
}
