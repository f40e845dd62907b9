package ingress

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// eventPage is the answer of GET /v1/events. next_cursor is always given:
// the cursor to pass as ?after= next time (unchanged when nothing new).
type eventPage struct {
	Items      []json.RawMessage `json:"items"`
	NextCursor string            `json:"next_cursor"`
}

// maxEventLimit bounds ?limit= of the event feed.
const maxEventLimit = 1000

// listEvents is GET /v1/events?after=<cursor>&limit=100&wait=30s: the
// caller's job events, oldest first, exactly the webhook bodies (DESIGN
// 2.7). The cursor is an EVENTS stream sequence, so it survives restarts;
// it is opaque to partners. With wait, an empty answer is held until an
// event arrives or the wait ends.
func (s *Server) listEvents(c *gin.Context) {
	bad := func(d string) { writeProblem(c, problem(http.StatusBadRequest, "invalid_request", d)) }
	var after uint64
	if v := c.Query("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			bad("after must be a next_cursor of this feed")
			return
		}
		after = n
	}
	limit := 100
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxEventLimit {
			bad("limit must be 1..1000")
			return
		}
		limit = n
	}
	wait, ok := parseWait(c.Query("wait"), s.cfg.MaxWait)
	if !ok {
		bad("wait must be a duration like 30s (at most 60s)")
		return
	}
	client := callerOf(c).client.ID
	if after > 0 {
		// A cursor past the newest event was never handed out: refuse it
		// rather than read from a wrapped sequence (after+1 overflows to
		// 0, "from the start") or wait for events that are not the
		// caller's next ones.
		last, err := s.deps.Jobs.LastEventCursor(c.Request.Context())
		if err != nil {
			writeProblem(c, &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "the event stream is unavailable", RetryAfter: 2})
			return
		}
		if after > last {
			bad("after is past the newest event: pass a next_cursor of this feed")
			return
		}
	}
	// Follow before reading, so an event stored between the read and
	// the wait still wakes the long-poll.
	wake := make(chan struct{}, 1)
	if wait > 0 {
		stop, err := s.deps.Jobs.NotifyEvents(client, wake)
		if err != nil {
			writeProblem(c, &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "the event stream is unavailable", RetryAfter: 2})
			return
		}
		defer stop()
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), max(wait, 10*time.Second))
	defer cancel()
	deadline := time.Now().Add(wait)
	for {
		page, err := s.readEvents(ctx, client, after, limit)
		if err != nil {
			writeProblem(c, &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "the event stream is unavailable", RetryAfter: 2})
			return
		}
		left := time.Until(deadline)
		if len(page.Items) > 0 || wait == 0 || left <= 0 {
			writeJSON(c.Writer, http.StatusOK, page)
			return
		}
		t := time.NewTimer(left)
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		if ctx.Err() != nil {
			writeJSON(c.Writer, http.StatusOK, page)
			return
		}
	}
}

// readEvents reads up to limit of the client's events after the cursor.
func (s *Server) readEvents(ctx context.Context, client string, after uint64, limit int) (eventPage, error) {
	p, err := s.deps.Jobs.Events(ctx, client, after, limit)
	if err != nil {
		return eventPage{}, err
	}
	return eventPage{Items: p.Items, NextCursor: strconv.FormatUint(p.Next, 10)}, nil
}
