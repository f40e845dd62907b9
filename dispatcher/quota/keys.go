package quota

import (
	"encoding/json"
	"strings"
	"time"
)

// Key prefixes of the budgets in cpib-quota (see the package doc).
const (
	// RateClientPrefix, ConcClientPrefix and AllowClientPrefix start the
	// keys of a client's budgets; RateFlowPrefix and ConcFlowPrefix those
	// of a flow's.
	RateClientPrefix  = "rate.c."
	ConcClientPrefix  = "conc.c."
	AllowClientPrefix = "allow.c."
	RateFlowPrefix    = "rate.f."
	ConcFlowPrefix    = "conc.f."
)

// windowLayout formats a window start in an allowance key.
const windowLayout = "20060102T1504"

// WindowName formats an allowance window start for keys.
func WindowName(window time.Time) string { return window.UTC().Format(windowLayout) }

// WindowKey is the key of one window of the allowance budget key.
func WindowKey(key string, window time.Time) string { return key + "." + WindowName(window) }

// AllowKey names a client's allowance budget in one window:
// allow.c.<client>.<window start as 20060102T1504>.
func AllowKey(client string, window time.Time) string {
	return WindowKey(AllowClientPrefix+client, window)
}

// Allowance is what a client used of its calendar allowance in one window,
// as decoded from its KV entry.
type Allowance struct {
	Client string
	// Window is the window start as WindowName formats it.
	Window string
	Used   int
}

// DecodeAllowance reads an allowance entry of cpib-quota; ok is false for
// any other key or an undecodable value.
func DecodeAllowance(key string, value []byte) (Allowance, bool) {
	rest, ok := strings.CutPrefix(key, AllowClientPrefix)
	if !ok {
		return Allowance{}, false
	}
	client, window, ok := strings.Cut(rest, ".")
	if !ok || client == "" || len(window) != len(windowLayout) {
		return Allowance{}, false
	}
	var st state
	if json.Unmarshal(value, &st) != nil {
		return Allowance{}, false
	}
	return Allowance{Client: client, Window: window, Used: st.Used}, true
}
