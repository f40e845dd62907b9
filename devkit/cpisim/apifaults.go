package cpisim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// APIFaults are faults injected into the OData API (/api/v1), for callers'
// backoff: the next FailNext authenticated API requests are answered with
// Status (default 429 "Too many requests", which the OData API documents
// for every operation, cpi.md 2.1) and, when RetryAfter is set, a
// Retry-After header in whole seconds.
type APIFaults struct {
	FailNext   int
	Status     int
	RetryAfter time.Duration
}

type apiFaultsJSON struct {
	FailNext   int    `json:"fail_next"`
	Status     int    `json:"status,omitempty"`
	RetryAfter string `json:"retry_after,omitempty"`
}

// MarshalJSON writes {"fail_next","status","retry_after":"1s"}.
func (f APIFaults) MarshalJSON() ([]byte, error) {
	w := apiFaultsJSON{FailNext: f.FailNext, Status: f.Status}
	if f.RetryAfter != 0 {
		w.RetryAfter = f.RetryAfter.String()
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads the form MarshalJSON writes, strictly.
func (f *APIFaults) UnmarshalJSON(b []byte) error {
	var w apiFaultsJSON
	if err := decodeStrict(b, &w); err != nil {
		return err
	}
	var ra time.Duration
	if w.RetryAfter != "" {
		var err error
		if ra, err = time.ParseDuration(w.RetryAfter); err != nil {
			return fmt.Errorf("retry_after: %w", err)
		}
	}
	*f = APIFaults{FailNext: w.FailNext, Status: w.Status, RetryAfter: ra}
	return nil
}

// Validate reports invalid fields.
func (f APIFaults) Validate() error {
	if f.FailNext < 0 || f.RetryAfter < 0 || (f.Status != 0 && (f.Status < 400 || f.Status > 599)) {
		return fmt.Errorf("%w: api faults need fail_next >= 0, retry_after >= 0 and a status of 400..599", ErrInvalidIFlow)
	}
	return nil
}

// SetAPIFaults replaces the OData API's injected faults.
func (s *Sim) SetAPIFaults(f APIFaults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	if f.Status == 0 {
		f.Status = http.StatusTooManyRequests
	}
	s.apiMu.Lock()
	s.apiFaults = f
	s.apiMu.Unlock()
	return nil
}

// CurrentAPIFaults returns the OData API's remaining injected faults.
func (s *Sim) CurrentAPIFaults() APIFaults {
	s.apiMu.Lock()
	defer s.apiMu.Unlock()
	return s.apiFaults
}

// APIRequests returns how many requests reached /api/v1, refused ones
// included.
func (s *Sim) APIRequests() int { return int(s.apiRequests.Load()) }

// apiFault answers the request with an injected fault when one is due.
func (s *Sim) apiFault(w http.ResponseWriter) bool {
	s.apiMu.Lock()
	f := s.apiFaults
	if f.FailNext > 0 {
		s.apiFaults.FailNext--
	}
	s.apiMu.Unlock()
	if f.FailNext <= 0 {
		return false
	}
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((f.RetryAfter+time.Second-1)/time.Second)))
	}
	msg := "Too many requests. Server's rate limit exceeded."
	if f.Status != http.StatusTooManyRequests {
		msg = "Injected fault: " + http.StatusText(f.Status)
	}
	writeODataError(w, f.Status, msg)
	return true
}

func (s *Sim) adminGetAPIFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.CurrentAPIFaults())
}

func (s *Sim) adminSetAPIFaults(w http.ResponseWriter, r *http.Request) {
	var f APIFaults
	if !readAdminBody(w, r, &f) {
		return
	}
	if err := s.SetAPIFaults(f); err != nil {
		writeAdminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.CurrentAPIFaults())
}
