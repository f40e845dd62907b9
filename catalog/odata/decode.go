package odata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrEnvelope: a body that is not an OData V2 JSON collection envelope.
var ErrEnvelope = errors.New("odata: not a V2 JSON envelope")

// Page is one answer of a collection request.
type Page struct {
	// Results are the entities, undecoded.
	Results []json.RawMessage
	// Next is the "__next" link (absolute or relative), "" on the last page.
	Next string
	// Count is "__count" ($inlinecount=allpages), -1 when absent.
	Count int
}

// DecodePage decodes {"d":{"results":[…],"__next":"…","__count":"…"}}.
// A bare {"d":[…]} (OData V1 form) is accepted too.
func DecodePage(b []byte) (Page, error) {
	var env struct {
		D json.RawMessage `json:"d"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return Page{}, fmt.Errorf("%w: %w", ErrEnvelope, err)
	}
	d := bytes.TrimSpace(env.D)
	if len(d) == 0 || bytes.Equal(d, []byte("null")) {
		return Page{}, fmt.Errorf("%w: no \"d\" member", ErrEnvelope)
	}
	p := Page{Count: -1}
	if d[0] == '[' {
		if err := json.Unmarshal(d, &p.Results); err != nil {
			return Page{}, fmt.Errorf("%w: %w", ErrEnvelope, err)
		}
		return p, nil
	}
	var body struct {
		Results *[]json.RawMessage `json:"results"`
		Next    string             `json:"__next"`
		Count   json.RawMessage    `json:"__count"`
	}
	if err := json.Unmarshal(d, &body); err != nil {
		return Page{}, fmt.Errorf("%w: %w", ErrEnvelope, err)
	}
	if body.Results == nil {
		return Page{}, fmt.Errorf("%w: no \"results\" array", ErrEnvelope)
	}
	p.Results, p.Next = *body.Results, body.Next
	if len(body.Count) > 0 && !bytes.Equal(body.Count, []byte("null")) {
		// V2 writes the count as a string; accept a number too.
		s := strings.Trim(string(body.Count), `"`)
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return Page{}, fmt.Errorf("%w: __count %s", ErrEnvelope, body.Count)
		}
		p.Count = n
	}
	return p, nil
}

// Time is an OData V2 date: "/Date(1613649422885)/" (optionally with an
// offset, "/Date(1613649422885+0060)/") or an ISO form such as
// "2021-02-18T11:57:02.885" (no zone means UTC). null and "" give the zero
// time.
type Time struct{ time.Time }

// UnmarshalJSON accepts both date forms.
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*t = Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("odata: date must be a string: %w", err)
	}
	v, err := ParseTime(s)
	if err != nil {
		return err
	}
	*t = Time{v}
	return nil
}

// isoLayouts are the ISO forms tenants and mocks write.
var isoLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05",
}

// ParseTime parses either OData V2 date form; see [Time].
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if inner, ok := strings.CutPrefix(s, "/Date("); ok {
		inner, ok = strings.CutSuffix(inner, ")/")
		if !ok || inner == "" {
			return time.Time{}, fmt.Errorf("odata: malformed date %q", s)
		}
		// An offset in minutes may follow: "+0060" or "-0120"; the
		// milliseconds are UTC either way.
		if i := strings.IndexAny(inner[1:], "+-"); i >= 0 {
			off := inner[i+1:]
			if _, err := strconv.Atoi(off[1:]); err != nil || len(off) < 2 {
				return time.Time{}, fmt.Errorf("odata: malformed date offset %q", s)
			}
			inner = inner[:i+1]
		}
		ms, err := strconv.ParseInt(inner, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("odata: malformed date %q", s)
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	for _, l := range isoLayouts {
		if v, err := time.Parse(l, s); err == nil {
			return v.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("odata: unknown date form %q", s)
}

// ServiceEndpoint is a ServiceEndpoints entity (cpi.md 2.3): one sender
// endpoint of a deployed iFlow.
type ServiceEndpoint struct {
	Name        string      `json:"Name"`
	ID          string      `json:"Id"`
	Title       string      `json:"Title"`
	Version     string      `json:"Version"`
	Summary     string      `json:"Summary"`
	Description string      `json:"Description"`
	LastUpdated Time        `json:"LastUpdated"`
	Protocol    string      `json:"Protocol"`
	EntryPoints EntryPoints `json:"EntryPoints"`
}

// Address is the endpoint address: the part of Id after
// "$endpointAddress=", with a leading "/"; "" when Id has no address.
func (e ServiceEndpoint) Address() string {
	_, addr, ok := strings.Cut(e.ID, "$endpointAddress=")
	if !ok || addr == "" {
		return ""
	}
	if !strings.HasPrefix(addr, "/") {
		addr = "/" + addr
	}
	return addr
}

// EntryPoint is an EntryPoints entity: a callable URL of an endpoint.
type EntryPoint struct {
	Name string `json:"Name"`
	URL  string `json:"Url"`
	Type string `json:"Type"`
}

// EntryPoints is an expanded navigation property ({"results":[…]}); a
// deferred one ({"__deferred":…}) decodes as empty with Deferred set.
type EntryPoints struct {
	Results  []EntryPoint
	Deferred bool
}

// UnmarshalJSON accepts {"results":[…]}, a bare array, {"__deferred":…}
// and null.
func (e *EntryPoints) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*e = EntryPoints{}
		return nil
	case len(b) > 0 && b[0] == '[':
		var r []EntryPoint
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		*e = EntryPoints{Results: r}
		return nil
	}
	var v struct {
		Results  []EntryPoint    `json:"results"`
		Deferred json.RawMessage `json:"__deferred"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*e = EntryPoints{Results: v.Results, Deferred: v.Deferred != nil}
	return nil
}

// RuntimeArtifact is an IntegrationRuntimeArtifacts entity (cpi.md 2.2):
// deployed content.
type RuntimeArtifact struct {
	ID         string `json:"Id"`
	Version    string `json:"Version"`
	Name       string `json:"Name"`
	Type       string `json:"Type"`
	DeployedBy string `json:"DeployedBy"`
	DeployedOn Time   `json:"DeployedOn"`
	Status     string `json:"Status"`
}

// ErrorMessage extracts the message of an OData error body: the spec form
// {"error":{"code","message":{"lang","value"}}}, the XML-to-JSON form
// {"error":{"message":{"@lang","#text"}}}, or a plain string message. It
// returns "" when b is none of those.
func ErrorMessage(b []byte) string {
	var v struct {
		Error struct {
			Code    string          `json:"code"`
			Message json.RawMessage `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &v) != nil || v.Error.Message == nil {
		return ""
	}
	var s string
	if json.Unmarshal(v.Error.Message, &s) == nil {
		return s
	}
	var m struct {
		Value string `json:"value"`
		Text  string `json:"#text"`
	}
	if json.Unmarshal(v.Error.Message, &m) != nil {
		return ""
	}
	if m.Value != "" {
		return m.Value
	}
	return m.Text
}
