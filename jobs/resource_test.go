package jobs_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestNewResource_JSON renders records as DESIGN 2.4 documents: absent
// optional fields omitted (never null), timestamps RFC 3339 in UTC, waiting
// only while a retry's backoff is still running.
func TestNewResource_JSON(t *testing.T) {
	ts := timestamppb.New
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	now := created.Add(time.Minute)
	base := func(st cpibv1.JobStatus) *cpibv1.JobRecord {
		return &cpibv1.JobRecord{
			Id: "01JABC", Client: "acme", Flow: "demo-echo", Status: st, Run: 1,
			CreatedAt: ts(created), UpdatedAt: ts(created.Add(time.Second)), ExpiresAt: ts(created.Add(24 * time.Hour)),
		}
	}
	const head = `"id":"01JABC","flow":"demo-echo","run":1,"created_at":"2026-01-02T02:04:05Z",` +
		`"updated_at":"2026-01-02T02:04:06Z","expires_at":"2026-01-03T02:04:05Z"`
	for _, tc := range []struct {
		name string
		rec  func() *cpibv1.JobRecord
		want string
	}{
		{"queued", func() *cpibv1.JobRecord { return base(cpibv1.JobStatus_JOB_STATUS_QUEUED) },
			`{` + head + `,"status":"queued","attempts":0}`},
		{"queued, retry backoff running", func() *cpibv1.JobRecord {
			r := base(cpibv1.JobStatus_JOB_STATUS_QUEUED)
			r.Attempts, r.NextAttemptAt = 2, ts(now.Add(30*time.Second+500*time.Millisecond))
			return r
		}, `{` + head + `,"status":"queued","attempts":2,"waiting":{"reason":"retry_backoff","until":"2026-01-02T02:05:35.5Z"}}`},
		{"queued, retry after a 503", func() *cpibv1.JobRecord {
			r := base(cpibv1.JobStatus_JOB_STATUS_QUEUED)
			r.Attempts, r.NextAttemptAt = 1, ts(now.Add(time.Second))
			r.LastAttempt = &cpibv1.Attempt{At: ts(now), StatusCode: 503, Code: "cpi_503", Message: "CPI answered 503 Service Unavailable"}
			return r
		}, `{` + head + `,"status":"queued","attempts":1,"waiting":{"reason":"retry_backoff","until":"2026-01-02T02:05:06Z"},` +
			`"last_attempt":{"at":"2026-01-02T02:05:05Z","status_code":503,"code":"cpi_503","message":"CPI answered 503 Service Unavailable"}}`},
		{"queued, provider credentials refused", func() *cpibv1.JobRecord {
			r := base(cpibv1.JobStatus_JOB_STATUS_QUEUED)
			r.NextAttemptAt = ts(now.Add(time.Second))
			r.LastAttempt = &cpibv1.Attempt{At: ts(now), StatusCode: 401, Code: "provider_auth", Message: "provider_auth: CPI answered 401"}
			return r
		}, `{` + head + `,"status":"queued","attempts":0,"waiting":{"reason":"provider_auth","until":"2026-01-02T02:05:06Z"},` +
			`"last_attempt":{"at":"2026-01-02T02:05:05Z","status_code":401,"code":"provider_auth","message":"provider_auth: CPI answered 401"}}`},
		{"queued, backoff over", func() *cpibv1.JobRecord {
			r := base(cpibv1.JobStatus_JOB_STATUS_QUEUED)
			r.Attempts, r.NextAttemptAt = 2, ts(now.Add(-time.Second))
			return r
		}, `{` + head + `,"status":"queued","attempts":2}`},
		{"queued, backoff ends now", func() *cpibv1.JobRecord {
			r := base(cpibv1.JobStatus_JOB_STATUS_QUEUED)
			r.Attempts, r.NextAttemptAt = 2, ts(now)
			return r
		}, `{` + head + `,"status":"queued","attempts":2}`},
		{"running with a stale next attempt", func() *cpibv1.JobRecord {
			r := base(cpibv1.JobStatus_JOB_STATUS_RUNNING)
			r.Attempts, r.NextAttemptAt = 3, ts(now.Add(time.Hour))
			return r
		}, `{` + head + `,"status":"running","attempts":3}`},
		{"succeeded", func() *cpibv1.JobRecord {
			r := base(cpibv1.JobStatus_JOB_STATUS_SUCCEEDED)
			r.Attempts, r.CompletedAt = 1, ts(created.Add(2*time.Second))
			r.Result = &cpibv1.Result{StatusCode: 200, ContentType: "application/json", Size: 123, CpiMessageId: "AF9r", Body: []byte("x")}
			return r
		}, `{` + head + `,"status":"succeeded","attempts":1,"completed_at":"2026-01-02T02:04:07Z",` +
			`"result":{"status_code":200,"content_type":"application/json","size":123,"cpi_message_id":"AF9r","url":"/v1/jobs/01JABC/result"}}`},
		{"succeeded with an empty 204", func() *cpibv1.JobRecord {
			r := base(cpibv1.JobStatus_JOB_STATUS_SUCCEEDED)
			r.Attempts, r.CompletedAt = 1, ts(created.Add(2*time.Second))
			r.Result = &cpibv1.Result{StatusCode: 204}
			return r
		}, `{` + head + `,"status":"succeeded","attempts":1,"completed_at":"2026-01-02T02:04:07Z",` +
			`"result":{"status_code":204,"size":0,"url":"/v1/jobs/01JABC/result"}}`},
		{"failed with CPI's answer", func() *cpibv1.JobRecord {
			r := base(cpibv1.JobStatus_JOB_STATUS_FAILED)
			r.Attempts, r.CompletedAt = 1, ts(created.Add(2*time.Second))
			r.Result = &cpibv1.Result{StatusCode: 500, ContentType: "text/plain", Size: 4}
			r.Error = &cpibv1.JobError{Code: jobs.CodeCPIError, Message: "CPI answered 500", StatusCode: 500}
			return r
		}, `{` + head + `,"status":"failed","attempts":1,"completed_at":"2026-01-02T02:04:07Z",` +
			`"result":{"status_code":500,"content_type":"text/plain","size":4,"url":"/v1/jobs/01JABC/result"},` +
			`"error":{"code":"cpi_error","message":"CPI answered 500","status_code":500}}`},
		{"expired", func() *cpibv1.JobRecord {
			r := base(cpibv1.JobStatus_JOB_STATUS_FAILED)
			r.CompletedAt = ts(created.Add(24 * time.Hour))
			r.Error = &cpibv1.JobError{Code: jobs.CodeExpired}
			return r
		}, `{` + head + `,"status":"failed","attempts":0,"completed_at":"2026-01-03T02:04:05Z","error":{"code":"expired"}}`},
		{"canceled", func() *cpibv1.JobRecord {
			r := base(cpibv1.JobStatus_JOB_STATUS_CANCELED)
			r.CompletedAt = ts(created.Add(time.Second))
			r.Error = &cpibv1.JobError{Code: jobs.CodeCanceled, Message: "canceled by the client"}
			return r
		}, `{` + head + `,"status":"canceled","attempts":0,"completed_at":"2026-01-02T02:04:06Z",` +
			`"error":{"code":"canceled","message":"canceled by the client"}}`},
		{"record without expiry (older writer)", func() *cpibv1.JobRecord {
			r := base(cpibv1.JobStatus_JOB_STATUS_QUEUED)
			r.ExpiresAt = nil
			return r
		}, `{"id":"01JABC","flow":"demo-echo","status":"queued","run":1,"attempts":0,` +
			`"created_at":"2026-01-02T02:04:05Z","updated_at":"2026-01-02T02:04:06Z"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(jobs.NewResource(tc.rec(), now))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "null") {
				t.Errorf("resource contains null: %s", b)
			}
			var got, want map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
				t.Fatalf("bad expectation: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("resource\n got %s\nwant %s", b, tc.want)
			}
		})
	}
}

func TestStatusName(t *testing.T) {
	for st, want := range map[cpibv1.JobStatus]struct {
		name     string
		terminal bool
	}{
		cpibv1.JobStatus_JOB_STATUS_QUEUED:      {"queued", false},
		cpibv1.JobStatus_JOB_STATUS_RUNNING:     {"running", false},
		cpibv1.JobStatus_JOB_STATUS_SUCCEEDED:   {"succeeded", true},
		cpibv1.JobStatus_JOB_STATUS_FAILED:      {"failed", true},
		cpibv1.JobStatus_JOB_STATUS_CANCELED:    {"canceled", true},
		cpibv1.JobStatus_JOB_STATUS_UNSPECIFIED: {"unknown", false},
	} {
		if jobs.StatusName(st) != want.name || jobs.Terminal(st) != want.terminal {
			t.Errorf("%v: name %q terminal %v, want %+v", st, jobs.StatusName(st), jobs.Terminal(st), want)
		}
	}
}
