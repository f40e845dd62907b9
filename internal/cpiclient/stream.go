package cpiclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ErrSpill wraps a failure of [Stream].Spill itself (not of reading CPI's
// answer): the answer could not be kept, which is not CPI's fault.
var ErrSpill = errors.New("storing the cpi response body failed")

// Stream lets a call move large bodies without holding them in memory.
type Stream struct {
	// Open opens the request body; it is called once per POST (a call
	// may be repeated after a token or CSRF refetch), so it must return
	// the whole body each time. Request.Body is ignored when Open is set.
	Open func() (io.ReadCloser, error)
	// Size is the request body's length, sent as Content-Length (-1 when
	// unknown: chunked).
	Size int64
	// SpillAbove: a response body longer than this many bytes is handed
	// to Spill as a stream instead of being read into Response.Body.
	// Answers 401 and 403, which may be retried, are never spilled.
	SpillAbove int64
	// Spill stores a long response body (at most Config.MaxResponseBody
	// bytes) and returns a reference for Response.BodyRef. It must read r
	// to its end or fail.
	Spill func(ctx context.Context, r io.Reader) (ref string, err error)
}

// newPost builds the POST of r, with its body opened from r.Stream when
// set.
func newPost(ctx context.Context, target string, r Request) (*http.Request, error) {
	if r.Stream == nil || r.Stream.Open == nil {
		return http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(r.Body))
	}
	body, err := r.Stream.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: opening the request body: %w", ErrInvalidRequest, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, body)
	if err != nil {
		_ = body.Close()
		return nil, err
	}
	req.ContentLength = r.Stream.Size
	if r.Stream.Size == 0 {
		req.Body = http.NoBody
		_ = body.Close()
	}
	req.GetBody = r.Stream.Open
	return req, nil
}

// readSpilling reads resp like readResponse, but hands a body longer than
// st.SpillAbove to st.Spill as a stream: memory stays bounded by
// SpillAbove, whatever CPI answers.
func (c *Client) readSpilling(ctx context.Context, resp *http.Response, target string, st *Stream) (*Response, error) {
	defer resp.Body.Close()
	limit := c.cfg.MaxResponseBody
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%w: %s answered %d with %d bytes, limit %d", ErrResponseTooLarge, target, resp.StatusCode, resp.ContentLength, limit)
	}
	src := &limitedBody{r: resp.Body, left: limit, target: target, status: resp.StatusCode}
	bufSize := st.SpillAbove + 1
	if resp.ContentLength >= 0 && resp.ContentLength < bufSize {
		bufSize = resp.ContentLength + 1
	}
	buf := make([]byte, bufSize)
	n, err := io.ReadFull(src, buf)
	out := &Response{
		StatusCode:  resp.StatusCode,
		ContentType: resp.Header.Get("Content-Type"),
		Header:      c.headers.filter(resp.Header),
		MessageID:   resp.Header.Get(headerMPLID),
	}
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		out.Body, out.Size = buf[:n], int64(n)
		return out, nil
	case err != nil:
		return nil, src.wrap(err)
	}
	counted := &countingReader{r: io.MultiReader(bytes.NewReader(buf), src)}
	ref, err := st.Spill(ctx, counted)
	if src.err != nil {
		return nil, src.wrap(src.err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSpill, err)
	}
	out.BodyRef, out.Size = ref, counted.n
	return out, nil
}

// limitedBody reads a response body, failing with ErrResponseTooLarge past
// left bytes, and remembers its first error other than io.EOF.
type limitedBody struct {
	r      io.Reader
	left   int64
	target string
	status int
	err    error
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if l.left <= 0 {
		// One byte more tells "exactly the limit" from "too long".
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			l.err = fmt.Errorf("%w: %s answered %d with more bytes than the limit", ErrResponseTooLarge, l.target, l.status)
			return 0, l.err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if err != nil && err != io.EOF {
		l.err = err
	}
	return n, err
}

func (l *limitedBody) wrap(err error) error {
	if errors.Is(err, ErrResponseTooLarge) {
		return err
	}
	return fmt.Errorf("reading the answer (%d): %w", l.status, err)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
