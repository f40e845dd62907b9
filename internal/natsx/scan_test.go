package natsx_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/testkit"
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats.go/jetstream"
)

func TestScanPage_cursor(t *testing.T) {
	_, _, res := testkit.NATS(t)
	ctx := context.Background()
	for i := 1; i <= 5; i++ {
		if _, err := res.JS.Publish(ctx, "cpib.audit.test", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := res.JS.Publish(ctx, "cpib.audit.other", []byte("x")); err != nil {
		t.Fatal(err)
	}
	keepAll := func(m jetstream.Msg, _ uint64, _ time.Time) (string, bool) { return string(m.Data()), true }
	for _, tc := range []struct {
		after   uint64
		limit   int
		maxScan int
		keep    func(jetstream.Msg, uint64, time.Time) (string, bool)
		want    string
		next    uint64
	}{
		{0, 2, 100, keepAll, "12", 2},
		{2, 2, 100, keepAll, "34", 4},
		{4, 2, 100, keepAll, "5", 0},
		{6, 2, 100, keepAll, "", 0},
		// Nothing kept within MaxScan: resume after what was looked at.
		{0, 2, 3, func(jetstream.Msg, uint64, time.Time) (string, bool) { return "", false }, "", 3},
	} {
		items, next, err := natsx.ScanPage(ctx, res.Audit,
			natsx.Scan{Filter: "cpib.audit.test", After: tc.after, Limit: tc.limit, MaxScan: tc.maxScan}, tc.keep)
		got := ""
		for _, s := range items {
			got += s
		}
		if err != nil || got != tc.want || next != tc.next {
			t.Errorf("after %d limit %d: got %q next %d err %v; want %q next %d", tc.after, tc.limit, got, next, err, tc.want, tc.next)
		}
	}
}
