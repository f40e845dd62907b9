package jobs_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go"
	"github.com/oklog/ulid/v2"
	"google.golang.org/protobuf/proto"
)

// TestSubmit_writes_message_and_record: a 202 means the job is queued on
// its client's subject, findable under its ID, and expires after its TTL.
func TestSubmit_writes_message_and_record(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ttl    time.Duration
		expiry time.Duration
	}{
		{"default TTL", 0, 24 * time.Hour},
		{"Job-TTL", 90 * time.Second, 90 * time.Second},
		{"negative TTL means default", -time.Second, 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, jobs.Config{})
			in := jobs.Submission{
				Client: "acme", Flow: "orders-create", ContentType: "application/xml",
				Payload: []byte("<order id='1'/>"), Query: "dry=1&x=%20", FlowPath: "/eu/de",
				Headers:     []*cpibv1.Header{{Name: "X-Tenant", Values: []string{"a", "b"}}},
				CallbackURL: "https://hooks.acme.example/cpib/1", TTL: tc.ttl,
				Trace: nats.Header{"traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}},
			}
			acc := mustSubmit(t, e, in)
			if acc.Replayed {
				t.Error("a first submission is Replayed")
			}
			rec := acc.Record
			id, err := ulid.ParseStrict(rec.GetId())
			if err != nil {
				t.Fatalf("job ID %q is not a ULID: %v", rec.GetId(), err)
			}
			if got := ulid.Time(id.Time()); !got.Equal(t0.Truncate(time.Millisecond)) {
				t.Errorf("ULID time %v, want the clock's %v", got, t0)
			}
			want := &cpibv1.JobRecord{
				Id: rec.GetId(), Client: "acme", Flow: "orders-create",
				Status: cpibv1.JobStatus_JOB_STATUS_QUEUED, Run: 1, Attempts: 0,
				CreatedAt: rec.GetCreatedAt(), UpdatedAt: rec.GetCreatedAt(), ExpiresAt: rec.GetExpiresAt(),
				CallbackUrl: in.CallbackURL, PayloadSize: int64(len(in.Payload)),
			}
			if !proto.Equal(rec, want) {
				t.Errorf("accepted record = %v\nwant %v", rec, want)
			}
			if !rec.GetCreatedAt().AsTime().Equal(t0) || !rec.GetExpiresAt().AsTime().Equal(t0.Add(tc.expiry)) {
				t.Errorf("created %v expires %v, want %v and +%v", rec.GetCreatedAt().AsTime(), rec.GetExpiresAt().AsTime(), t0, tc.expiry)
			}

			stored, _, err := e.store.Get(ctxT(t), rec.GetId())
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if !proto.Equal(stored, rec) {
				t.Errorf("stored record %v differs from accepted %v", stored, rec)
			}

			job, msg := queued(t, e, "acme", "orders-create")
			if got := msg.Header.Get(nats.MsgIdHdr); got != rec.GetId() {
				t.Errorf("Nats-Msg-Id = %q, want the job ID %q", got, rec.GetId())
			}
			if got := msg.Header.Get("traceparent"); got != in.Trace.Get("traceparent") {
				t.Errorf("traceparent = %q", got)
			}
			wantJob := &cpibv1.Job{
				Id: rec.GetId(), Client: "acme", Flow: "orders-create", Run: 1,
				CreatedAt: rec.GetCreatedAt(), ExpiresAt: rec.GetExpiresAt(),
				ContentType: in.ContentType, Payload: in.Payload, PayloadSize: int64(len(in.Payload)),
				Query: in.Query, FlowPath: in.FlowPath, Headers: in.Headers, CallbackUrl: in.CallbackURL,
			}
			if !proto.Equal(job, wantJob) {
				t.Errorf("job message = %v\nwant %v", job, wantJob)
			}
			if n := jobMsgs(t, e); n != 1 {
				t.Errorf("JOBS holds %d messages, want 1", n)
			}
		})
	}
}

// TestSubmit_payload_size_decides_inline_or_object: bodies above InlineMax
// go to the object store and come back byte for byte.
func TestSubmit_payload_size_decides_inline_or_object(t *testing.T) {
	const inlineMax = 1024
	e := newEnv(t, jobs.Config{InlineMax: inlineMax})
	for _, tc := range []struct {
		name   string
		size   int
		object bool
	}{
		{"empty", 0, false},
		{"at inline_max", inlineMax, false},
		{"one byte over", inlineMax + 1, true},
		{"larger than a NATS message", 3 << 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := make([]byte, tc.size)
			_, _ = rand.Read(body)
			flow := fmt.Sprintf("size-%d", tc.size)
			s := jobs.Submission{Client: "acme", Flow: flow, ContentType: "application/octet-stream", Payload: body}
			acc := mustSubmit(t, e, s)
			job, _ := queued(t, e, "acme", flow)
			if job.GetId() != acc.Record.GetId() {
				t.Fatalf("last message on the flow is %s, want %s", job.GetId(), acc.Record.GetId())
			}
			if got := job.GetPayloadObject() != ""; got != tc.object {
				t.Errorf("payload object %q, want object=%v", job.GetPayloadObject(), tc.object)
			}
			if tc.object {
				if len(job.GetPayload()) != 0 {
					t.Errorf("object payload also inline (%d bytes)", len(job.GetPayload()))
				}
				if acc.Record.GetPayloadObject() != job.GetPayloadObject() || job.GetPayloadObject() != jobs.PayloadObject(job.GetId()) {
					t.Errorf("record object %q, job object %q", acc.Record.GetPayloadObject(), job.GetPayloadObject())
				}
			}
			if job.GetPayloadSize() != int64(tc.size) || acc.Record.GetPayloadSize() != int64(tc.size) {
				t.Errorf("payload size job %d record %d, want %d", job.GetPayloadSize(), acc.Record.GetPayloadSize(), tc.size)
			}
			got, err := e.store.Payload(ctxT(t), job)
			if err != nil {
				t.Fatalf("Payload: %v", err)
			}
			if !bytes.Equal(got, body) {
				t.Fatalf("Payload returned %d bytes that differ from the %d submitted", len(got), len(body))
			}
		})
	}
}

func TestPayload_missing_object_is_unavailable(t *testing.T) {
	e := newEnv(t, jobs.Config{})
	_, err := e.store.Payload(ctxT(t), &cpibv1.Job{Id: "x", PayloadObject: jobs.PayloadObject("x")})
	if err == nil {
		t.Fatal("Payload of a missing object succeeded")
	}
}

// TestStoreResultBody: large CPI answers go to the object store under the
// run's name and come back byte for byte; small ones stay in the record.
func TestStoreResultBody(t *testing.T) {
	e := newEnv(t, jobs.Config{InlineMax: 1024})
	ctx := ctxT(t)
	small := bytes.Repeat([]byte("s"), 1024)
	if name, err := e.store.StoreResultBody(ctx, "01J", 1, small); err != nil || name != "" {
		t.Fatalf("small body: %q %v", name, err)
	}
	large := bytes.Repeat([]byte("L"), 1025)
	name, err := e.store.StoreResultBody(ctx, "01J", 2, large)
	if err != nil || name != jobs.ResultObject("01J", 2) {
		t.Fatalf("large body: %q %v", name, err)
	}
	for _, res := range []*cpibv1.Result{{Body: small}, {BodyObject: name}} {
		want := small
		if res.GetBodyObject() != "" {
			want = large
		}
		got, err := e.store.ResultBody(ctx, &cpibv1.JobRecord{Result: res})
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("ResultBody(%v): %d bytes, %v", res.GetBodyObject(), len(got), err)
		}
	}
}

func TestNewStore_validates(t *testing.T) {
	e := newEnv(t, jobs.Config{})
	if c := e.store.Config(); c.InlineMax != 256<<10 || c.DefaultTTL != 24*time.Hour || c.InFlightWindow != 10*time.Second {
		t.Errorf("defaults = %+v", c)
	}
	for _, cfg := range []jobs.Config{
		{InlineMax: 1023},
		{InlineMax: 512<<10 + 1},
		{InlineMax: -1},
		{DefaultTTL: 500 * time.Millisecond},
		{DefaultTTL: -time.Hour},
	} {
		if _, err := jobs.NewStore(e.res, cfg); err == nil {
			t.Errorf("NewStore(%+v) succeeded", cfg)
		}
	}
}
