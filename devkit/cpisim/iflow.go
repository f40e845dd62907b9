package cpisim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/textproto"
	"time"
)

// IFlow describes one deployed integration flow with an HTTPS sender adapter.
//
// In JSON (the admin API) the fields are snake_case and "csrf" defaults to
// true, CPI's default; in Go the zero value of CSRF is false, so set it.
type IFlow struct {
	// ID is the artifact ID, e.g. "Echo": letters, digits, '_', '.', '-'.
	ID string `json:"id"`
	// Name is the display name; default ID.
	Name string `json:"name,omitempty"`
	// Address is the sender adapter's address, e.g. "/demo/echo" or
	// "/orders/*"; the endpoint is <base>/http<Address>. Compared
	// case-insensitively; unique across the tenant.
	Address string `json:"address"`
	// CSRF makes the endpoint CSRF protected (CPI's default is true).
	CSRF bool `json:"csrf"`
	// Faults are the injected faults; see [Faults].
	Faults Faults `json:"faults"`
	// ResponseStatus is the status of a successful call, as a flow sets it
	// with CamelHttpResponseCode (cpi.md 1.4): a 2xx; default 200. With 204
	// no body is returned.
	ResponseStatus int `json:"response_status,omitempty"`
	// ResponseHeaders are extra headers the flow returns on success (CPI
	// leaks exchange headers into the response unless a script strips them).
	// Names are sent with the given spelling.
	ResponseHeaders map[string]string `json:"response_headers,omitempty"`
	// MaxBodySize is the sender adapter's body size limit in bytes; 0 means
	// Config.MaxBodySize.
	MaxBodySize int64 `json:"max_body_size,omitempty"`
	// Artifact is the integration artifact (iFlow) this sender endpoint
	// belongs to; default ID. Several IFlows with the same Artifact model
	// one iFlow with several sender channels: the OData API lists one
	// runtime artifact and one service endpoint per channel.
	Artifact string `json:"artifact,omitempty"`
	// Protocol is the sender adapter's kind as the OData API names it
	// (cpi.md 2.3): "REST" (HTTPS adapter, served at /http<Address>, the
	// default), "SOAP" (/cxf<Address>) or "ODATAV2" (/gw/odata<Address>).
	Protocol string `json:"protocol,omitempty"`
	// Version is the artifact version the OData API reports; default "1.0.0".
	Version string `json:"version,omitempty"`
	// Description is the service endpoint's description in the OData API.
	Description string `json:"description,omitempty"`
}

// Protocols of sender endpoints, as the OData API names them.
const (
	ProtocolREST    = "REST"
	ProtocolSOAP    = "SOAP"
	ProtocolODataV2 = "ODATAV2"
)

// protocolBase is the runtime path prefix of a protocol's endpoints: the
// HTTPS adapter under /http, SOAP (CXF) under /cxf and OData under /gw/odata
// (cpi.md 1.1).
func protocolBase(p string) (string, bool) {
	switch p {
	case ProtocolREST:
		return "/http", true
	case ProtocolSOAP:
		return "/cxf", true
	case ProtocolODataV2:
		return "/gw/odata", true
	}
	return "", false
}

// UnmarshalJSON decodes an IFlow strictly (unknown fields are an error) and
// defaults "csrf" to true.
func (f *IFlow) UnmarshalJSON(b []byte) error {
	type plain IFlow
	p := plain{CSRF: true}
	if err := decodeStrict(b, &p); err != nil {
		return err
	}
	*f = IFlow(p)
	return nil
}

// Faults are the faults injected into an iFlow's calls. The zero value
// injects nothing. They can be changed while serving ([Sim.SetFaults], or
// PUT /sim/v1/iflows/{id}/faults).
type Faults struct {
	// Latency is added before answering (success or error, not outage).
	// At most 10m, the longest wait CPI's load balancer supports.
	Latency time.Duration
	// ErrorRate is the fraction (0..1) of calls answered with ErrorStatus,
	// decided by the iFlow's seeded random source.
	ErrorRate float64
	// ErrorStatus is the status of an injected error: 400..599, default 503
	// when ErrorRate > 0. 500 answers with CPI's text/plain body that names
	// the MPL ID.
	ErrorStatus int
	// ErrorMessage is the exception text in an injected error's body;
	// a default names the iFlow.
	ErrorMessage string
	// Outage answers every call 503 without running the flow, as a tenant
	// does for a flow that is not started.
	Outage bool
}

// maxLatency is CPI's documented limit of one synchronous call (cpi.md 1.4).
const maxLatency = 10 * time.Minute

// faultsJSON is the wire form of Faults: durations are strings ("500ms").
type faultsJSON struct {
	Latency      string  `json:"latency,omitempty"`
	ErrorRate    float64 `json:"error_rate,omitempty"`
	ErrorStatus  int     `json:"error_status,omitempty"`
	ErrorMessage string  `json:"error_message,omitempty"`
	Outage       bool    `json:"outage,omitempty"`
}

// MarshalJSON encodes Faults with Latency as a duration string.
func (f Faults) MarshalJSON() ([]byte, error) {
	w := faultsJSON{ErrorRate: f.ErrorRate, ErrorStatus: f.ErrorStatus, ErrorMessage: f.ErrorMessage, Outage: f.Outage}
	if f.Latency != 0 {
		w.Latency = f.Latency.String()
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes Faults strictly; "latency" is a Go duration string
// such as "500ms" or "2s".
func (f *Faults) UnmarshalJSON(b []byte) error {
	var w faultsJSON
	if err := decodeStrict(b, &w); err != nil {
		return err
	}
	var lat time.Duration
	if w.Latency != "" {
		var err error
		if lat, err = time.ParseDuration(w.Latency); err != nil {
			return fmt.Errorf("faults latency: %w", err)
		}
	}
	*f = Faults{Latency: lat, ErrorRate: w.ErrorRate, ErrorStatus: w.ErrorStatus, ErrorMessage: w.ErrorMessage, Outage: w.Outage}
	return nil
}

// Validate reports every invalid field of f.
func (f Faults) Validate() error {
	var errs []error
	if f.Latency < 0 || f.Latency > maxLatency {
		errs = append(errs, fmt.Errorf("latency %s outside 0..%s", f.Latency, maxLatency))
	}
	if math.IsNaN(f.ErrorRate) || f.ErrorRate < 0 || f.ErrorRate > 1 {
		errs = append(errs, fmt.Errorf("error rate %v outside 0..1", f.ErrorRate))
	}
	if f.ErrorStatus != 0 && (f.ErrorStatus < 400 || f.ErrorStatus > 599) {
		errs = append(errs, fmt.Errorf("error status %d outside 400..599", f.ErrorStatus))
	}
	return errors.Join(errs...)
}

// withDefaults returns f with ErrorStatus defaulted.
func (f Faults) withDefaults() Faults {
	if f.ErrorRate > 0 && f.ErrorStatus == 0 {
		f.ErrorStatus = http.StatusServiceUnavailable
	}
	return f
}

// Validate reports every invalid field of f, including its Faults.
func (f IFlow) Validate() error {
	var errs []error
	if err := validateID(f.ID); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseAddress(f.Address); err != nil {
		errs = append(errs, err)
	}
	if f.ResponseStatus != 0 && (f.ResponseStatus < 200 || f.ResponseStatus > 299) {
		errs = append(errs, fmt.Errorf("response status %d is not a 2xx", f.ResponseStatus))
	}
	if f.MaxBodySize < 0 {
		errs = append(errs, fmt.Errorf("max body size %d is negative", f.MaxBodySize))
	}
	if f.Artifact != "" {
		if err := validateID(f.Artifact); err != nil {
			errs = append(errs, fmt.Errorf("artifact: %w", err))
		}
	}
	if _, ok := protocolBase(f.Protocol); f.Protocol != "" && !ok {
		errs = append(errs, fmt.Errorf("protocol %q must be REST, SOAP or ODATAV2", f.Protocol))
	}
	for name, v := range f.ResponseHeaders {
		if !validHeaderName(name) {
			errs = append(errs, fmt.Errorf("response header name %q is not a token", name))
			continue
		}
		switch textproto.CanonicalMIMEHeaderKey(name) {
		case "Content-Length", "Transfer-Encoding", "Connection":
			errs = append(errs, fmt.Errorf("response header %q is managed by the server", name))
		}
		for i := 0; i < len(v); i++ {
			if v[i] == '\r' || v[i] == '\n' || v[i] == 0 {
				errs = append(errs, fmt.Errorf("response header %q has a control character", name))
				break
			}
		}
	}
	if err := f.Faults.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("faults: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w %q: %w", ErrInvalidIFlow, f.ID, err)
	}
	return nil
}

// withDefaults returns a copy of f with defaults applied and maps copied.
func (f IFlow) withDefaults() IFlow {
	if f.Name == "" {
		f.Name = f.ID
	}
	if f.Artifact == "" {
		f.Artifact = f.ID
	}
	if f.Protocol == "" {
		f.Protocol = ProtocolREST
	}
	if f.Version == "" {
		f.Version = "1.0.0"
	}
	if f.ResponseStatus == 0 {
		f.ResponseStatus = http.StatusOK
	}
	if f.ResponseHeaders != nil {
		h := make(map[string]string, len(f.ResponseHeaders))
		for k, v := range f.ResponseHeaders {
			h[k] = v
		}
		f.ResponseHeaders = h
	}
	f.Faults = f.Faults.withDefaults()
	return f
}

// DemoIFlows returns the demo tenant's flows (DESIGN 9), all CSRF protected:
// Echo at /demo/echo; Slow at /demo/slow, answering after 500ms; Flaky at
// /demo/flaky, failing half of the calls with 503.
func DemoIFlows() []IFlow {
	return []IFlow{
		{ID: "Echo", Name: "Echo", Address: "/demo/echo", CSRF: true,
			Description: "Returns the request body and content type."},
		{ID: "Slow", Name: "Slow", Address: "/demo/slow", CSRF: true, Faults: Faults{Latency: 500 * time.Millisecond},
			Description: "Waits 500 ms, then returns the request body and content type."},
		{ID: "Flaky", Name: "Flaky", Address: "/demo/flaky", CSRF: true, Faults: Faults{ErrorRate: 0.5, ErrorStatus: http.StatusServiceUnavailable},
			Description: "Answers 503 about half the time, else returns the request body and content type."},
	}
}

// validateID accepts artifact IDs: 1..200 letters, digits, '_', '.', '-'.
func validateID(id string) error {
	if id == "" {
		return errors.New("id is empty")
	}
	if len(id) > 200 {
		return fmt.Errorf("id longer than 200 bytes")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("id %q: character %q is not allowed", id, c)
		}
	}
	return nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0:
		default:
			return false
		}
	}
	return true
}

// decodeStrict decodes one JSON value, refusing unknown fields and trailing
// data.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after JSON value")
	}
	return nil
}

// GeneratedIFlows returns n simulated iFlows for tenants with many
// endpoints: artifact "Gen_<i>" at "/gen/<i>" (i zero-padded to 5 digits),
// without CSRF protection; every tenth is a SOAP endpoint.
func GeneratedIFlows(n int) []IFlow {
	out := make([]IFlow, 0, n)
	for i := 1; i <= n; i++ {
		f := IFlow{ID: fmt.Sprintf("Gen_%05d", i), Address: fmt.Sprintf("/gen/%05d", i), Protocol: ProtocolREST}
		if i%10 == 0 {
			f.Protocol = ProtocolSOAP
		}
		f.Name = "Generated iFlow " + f.ID
		out = append(out, f)
	}
	return out
}
