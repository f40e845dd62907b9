package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrBodyRead: the partner's request body could not be read to its end
// (too large, cut off). Nothing was stored. It wraps the reader's error, so
// errors.As finds an *http.MaxBytesError.
var ErrBodyRead = errors.New("request body could not be read")

// streamedBody is a request body read by Submit: inline, or in an object.
type streamedBody struct {
	inline []byte
	object string
	size   int64
}

// readBody reads a request body of unknown length. Up to InlineMax bytes
// are kept in memory and travel in the message; past that, the body is
// streamed to the object store (chunk by chunk: memory stays bounded by
// InlineMax plus one chunk, whatever the size). Every byte also goes to h,
// the idempotency fingerprint.
func (s *Store) readBody(ctx context.Context, id string, r io.Reader, h hash.Hash) (streamedBody, error) {
	buf := make([]byte, s.cfg.InlineMax+1)
	// The reader's own errors are told apart from ReadFull's "shorter than
	// the buffer": a body cut off before its Content-Length ends in the
	// reader's io.ErrUnexpectedEOF and must not pass for a short body.
	head := &readErr{r: r}
	n, err := io.ReadFull(head, buf)
	switch {
	case head.err != nil:
		return streamedBody{}, fmt.Errorf("%w: %w", ErrBodyRead, head.err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		h.Write(buf[:n])
		return streamedBody{inline: buf[:n], size: int64(n)}, nil
	case err != nil:
		return streamedBody{}, fmt.Errorf("%w: %w", ErrBodyRead, err)
	}
	src := &readErr{r: io.TeeReader(io.MultiReader(bytes.NewReader(buf), r), h)}
	name := PayloadObject(id)
	info, err := s.res.Payloads.Put(ctx, jetstream.ObjectMeta{Name: name}, src)
	if src.err != nil {
		return streamedBody{}, fmt.Errorf("%w: %w", ErrBodyRead, src.err)
	}
	if err != nil {
		return streamedBody{}, fmt.Errorf("%w: store payload: %w", ErrUnavailable, err)
	}
	return streamedBody{object: name, size: int64(info.Size)}, nil
}

// readErr remembers the error of its reader other than io.EOF, to tell a
// partner's broken body from a JetStream failure.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// dropObject deletes an object that will not be referenced (best effort;
// a leftover expires with the retention).
func (s *Store) dropObject(ctx context.Context, name string) {
	if name == "" {
		return
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = s.res.Payloads.Delete(dctx, name)
}

// OpenPayload returns a reader of a job's request body, streamed from the
// object store when it is not inline. Each call opens a new reader, so a
// CPI call can be repeated (token or CSRF refetch).
func (s *Store) OpenPayload(ctx context.Context, job *cpibv1.Job) (io.ReadCloser, error) {
	if job.GetPayloadObject() == "" {
		return io.NopCloser(bytes.NewReader(job.GetPayload())), nil
	}
	return s.open(ctx, job.GetPayloadObject())
}

// OpenResult returns a reader of CPI's response body of a record's run,
// streamed from the object store when it is not inline.
func (s *Store) OpenResult(ctx context.Context, rec *cpibv1.JobRecord) (io.ReadCloser, error) {
	res := rec.GetResult()
	if res.GetBodyObject() == "" {
		return io.NopCloser(bytes.NewReader(res.GetBody())), nil
	}
	return s.open(ctx, res.GetBodyObject())
}

func (s *Store) open(ctx context.Context, name string) (io.ReadCloser, error) {
	obj, err := s.res.Payloads.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("%w: object %s: %w", ErrUnavailable, name, err)
	}
	return obj, nil
}

// StoreResultStream streams a large CPI response body into the object
// store as the result of (id, run) and returns its name and size.
func (s *Store) StoreResultStream(ctx context.Context, id string, run uint32, r io.Reader) (string, int64, error) {
	name := ResultObject(id, run)
	src := &readErr{r: r}
	info, err := s.res.Payloads.Put(ctx, jetstream.ObjectMeta{Name: name}, src)
	if src.err != nil {
		return "", 0, fmt.Errorf("reading the answer: %w", src.err)
	}
	if err != nil {
		return "", 0, fmt.Errorf("%w: store result: %w", ErrUnavailable, err)
	}
	return name, int64(info.Size), nil
}

// DropResult deletes a stored result body that will not be kept (the
// answer of an attempt that is retried). Best effort.
func (s *Store) DropResult(ctx context.Context, name string) { s.dropObject(ctx, name) }
