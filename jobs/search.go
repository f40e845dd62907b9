package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// RecentRecords returns the latest record of every job written among the
// last maxScan writes of the record bucket (from since on, when given),
// and the jobs among the last maxScan queued messages that have no record
// yet (as Get reads them), in no order: a bounded search of recent jobs.
// A deleted record is left out.
func (s *Store) RecentRecords(ctx context.Context, since time.Time, maxScan int) ([]*cpibv1.JobRecord, error) {
	latest, err := s.recentRecords(ctx, since, maxScan)
	if err != nil {
		return nil, err
	}
	queued, err := s.recentQueued(ctx, since, maxScan)
	if err != nil {
		return nil, err
	}
	out := make([]*cpibv1.JobRecord, 0, len(latest)+len(queued))
	for _, rec := range latest {
		out = append(out, rec)
	}
	for id, rec := range queued {
		if _, ok := latest[id]; !ok {
			// Written meanwhile? Only a job still without a record is
			// shown from its message.
			if _, _, err := s.record(ctx, id); errors.Is(err, ErrNotFound) {
				out = append(out, rec)
			}
		}
	}
	return out, nil
}

// maxQueuedScan bounds the queued messages a search reads (one direct
// get each: a work-queue stream admits no ordered consumer).
const maxQueuedScan = 1000

// recentQueued reads the last messages of the queues (at most maxScan and
// maxQueuedScan; created since since, when given) as the records they
// stand for, by job ID.
func (s *Store) recentQueued(ctx context.Context, since time.Time, maxScan int) (map[string]*cpibv1.JobRecord, error) {
	info, err := s.res.Jobs.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("jobs: job stream: %w", err)
	}
	out := map[string]*cpibv1.JobRecord{}
	if info.State.Msgs == 0 {
		return out, nil
	}
	n := uint64(min(maxScan, maxQueuedScan))
	seq := max(info.State.FirstSeq, 1)
	if info.State.LastSeq > n && info.State.LastSeq-n > seq {
		seq = info.State.LastSeq - n
	}
	filter := natsx.KindSubjects(natsx.KindQueue)
	for range n {
		m, err := s.res.Jobs.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("jobs: read queued jobs: %w", err)
		}
		seq = m.Sequence + 1
		job := &cpibv1.Job{}
		if proto.Unmarshal(m.Data, job) != nil || job.GetId() == "" || job.GetCreatedAt().AsTime().Before(since) {
			continue
		}
		out[job.GetId()] = Accept(job)
	}
	return out, nil
}

func (s *Store) recentRecords(ctx context.Context, since time.Time, maxScan int) (map[string]*cpibv1.JobRecord, error) {
	st, err := s.res.JS.Stream(ctx, "KV_"+natsx.BucketJobs)
	if err != nil {
		return nil, fmt.Errorf("jobs: record stream: %w", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("jobs: record stream: %w", err)
	}
	prefix := natsx.KVPrefix(natsx.BucketJobs)
	scan := natsx.Scan{Filter: prefix + ">", Limit: maxScan, MaxScan: maxScan, Since: since}
	if since.IsZero() && info.State.LastSeq > uint64(maxScan) {
		scan.After = info.State.LastSeq - uint64(maxScan)
	}
	latest := map[string]*cpibv1.JobRecord{}
	_, _, err = natsx.ScanPage(ctx, st, scan, func(m jetstream.Msg, _ uint64, _ time.Time) (struct{}, bool) {
		key := strings.TrimPrefix(m.Subject(), prefix)
		if op := m.Headers().Get("KV-Operation"); op != "" || len(m.Data()) == 0 {
			delete(latest, key)
			return struct{}{}, false
		}
		rec := &cpibv1.JobRecord{}
		if proto.Unmarshal(m.Data(), rec) != nil {
			return struct{}{}, false
		}
		latest[key] = rec
		return struct{}{}, false
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: scan records: %w", err)
	}
	return latest, nil
}
