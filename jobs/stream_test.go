package jobs_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// A body of unknown length stays in the message up to inline_max and is
// streamed to the object store beyond; either way it reads back intact,
// and an idempotent retry matches whether the body came as bytes or as a
// stream.
func TestSubmit_streamed_body(t *testing.T) {
	e := newEnv(t, jobs.Config{InlineMax: 1024})
	ctx := ctxT(t)
	for _, size := range []int{0, 1024, 1025, 300 << 10} {
		body := bytes.Repeat([]byte{'z'}, size)
		s := sub("acme", "echo", "")
		var r io.Reader = bytes.NewReader(body)
		if size < 2048 {
			r = iotest.OneByteReader(r) // short reads must not end the body early
		}
		s.Payload, s.Body = nil, r
		s.IdempotencyKey = "k" + string(rune('a'+size%26)) + strings.Repeat("x", size%7)
		acc := mustSubmit(t, e, s)
		job, _ := queued(t, e, "acme", "echo")
		if job.GetId() != acc.Record.GetId() || job.GetPayloadSize() != int64(size) {
			t.Fatalf("%d bytes: job %s size %d", size, job.GetId(), job.GetPayloadSize())
		}
		if inObject := job.GetPayloadObject() != ""; inObject != (size > 1024) {
			t.Fatalf("%d bytes: payload object %q", size, job.GetPayloadObject())
		}
		rc, err := e.store.OpenPayload(ctx, job)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("%d bytes: read back %d bytes, %v", size, len(got), err)
		}
		again := s
		again.Body = nil
		again.Payload = body
		if acc2 := mustSubmit(t, e, again); !acc2.Replayed || acc2.Record.GetId() != acc.Record.GetId() {
			t.Fatalf("%d bytes: the same request as bytes did not replay the streamed one", size)
		}
	}
}

// A body that breaks off stores nothing and says why.
func TestSubmit_broken_body_stores_nothing(t *testing.T) {
	e := newEnv(t, jobs.Config{InlineMax: 1024})
	boom := errors.New("client went away")
	for _, n := range []int64{10, 5000} {
		s := sub("acme", "echo", "")
		s.Payload, s.Body = nil, io.MultiReader(io.LimitReader(bytes.NewReader(make([]byte, 10000)), n), iotest.ErrReader(boom))
		if _, err := e.store.Submit(ctxT(t), s); !errors.Is(err, jobs.ErrBodyRead) || !errors.Is(err, boom) {
			t.Fatalf("after %d bytes: %v", n, err)
		}
	}
	if n := jobMsgs(t, e); n != 0 {
		t.Fatalf("%d job messages after broken bodies", n)
	}
	st, err := e.res.Payloads.Status(ctxT(t))
	if err != nil || st.Size() != 0 {
		t.Fatalf("object store holds %d bytes (%v)", st.Size(), err)
	}
}

// The event of a run: type from the status, the job resource as data, a
// small body inline as text or base64, a large one only linked.
func TestNewEvent(t *testing.T) {
	done := timestamppb.New(t0)
	rec := func(st cpibv1.JobStatus, body []byte) *cpibv1.JobRecord {
		r := &cpibv1.JobRecord{Id: "01JOB", Client: "acme", Flow: "echo", Status: st, Run: 2, Attempts: 1,
			CreatedAt: done, UpdatedAt: done, CompletedAt: done}
		if body != nil {
			r.Result = &cpibv1.Result{StatusCode: 200, Size: int64(len(body)), Body: body}
		}
		return r
	}
	for _, tc := range []struct {
		name           string
		rec            *cpibv1.JobRecord
		body           []byte
		typ, enc, want string
	}{
		{"text", rec(cpibv1.JobStatus_JOB_STATUS_SUCCEEDED, []byte(`{"a":1}`)), []byte(`{"a":1}`), "job.succeeded", "utf-8", `{"a":1}`},
		{"binary", rec(cpibv1.JobStatus_JOB_STATUS_FAILED, []byte{0xff, 0}), []byte{0xff, 0}, "job.failed", "base64", "/wA="},
		{"large", rec(cpibv1.JobStatus_JOB_STATUS_SUCCEEDED, make([]byte, 16<<10+1)), nil, "job.succeeded", "", ""},
		{"no result", rec(cpibv1.JobStatus_JOB_STATUS_CANCELED, nil), nil, "job.canceled", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := jobs.NewEvent(tc.rec, tc.body)
			if ev.ID != "evt_01JOB_2" || ev.Type != tc.typ || ev.Data.ID != "01JOB" || ev.Timestamp != "2026-11-22T08:30:00.123456789Z" {
				t.Fatalf("event %+v", ev)
			}
			b, _ := json.Marshal(ev)
			res := ev.Data.Result
			switch {
			case tc.enc == "" && res != nil && (res.Body != nil || strings.Contains(string(b), "body")):
				t.Fatalf("body inlined: %s", b)
			case tc.enc != "" && (res.Body == nil || *res.Body != tc.want || res.BodyEncoding != tc.enc):
				t.Fatalf("inline body: %s", b)
			}
		})
	}
}
