package jobs

import (
	"context"
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
// in no order: a bounded search of recent jobs. A deleted record is left
// out.
func (s *Store) RecentRecords(ctx context.Context, since time.Time, maxScan int) ([]*cpibv1.JobRecord, error) {
	st, err := s.res.JS.Stream(ctx, "KV_"+natsx.BucketJobs)
	if err != nil {
		return nil, fmt.Errorf("jobs: record stream: %w", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("jobs: record stream: %w", err)
	}
	prefix := "$KV." + natsx.BucketJobs + "."
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
	out := make([]*cpibv1.JobRecord, 0, len(latest))
	for _, rec := range latest {
		out = append(out, rec)
	}
	return out, nil
}
