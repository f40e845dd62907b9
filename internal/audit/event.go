package audit

import (
	"time"
)

// Actions. Each is a valid NATS subject suffix.
const (
	ActionTokenIssued           = "token.issued"
	ActionTokenRefused          = "token.refused"
	ActionAuthnDenied           = "authn.denied"
	ActionAuthzDenied           = "authz.denied"
	ActionClientCreated         = "client.created"
	ActionClientUpdated         = "client.updated"
	ActionClientDeleted         = "client.deleted"
	ActionClientSecretRotated   = "client.secret_rotated"
	ActionClientWebhookRotated  = "client.webhook_secret_rotated"
	ActionKeyRotated            = "key.rotated"
	ActionSeedApplied           = "seed.applied"
	ActionDLQReplayed           = "dlq.replayed"
	ActionProviderCreated       = "provider.created"
	ActionProviderUpdated       = "provider.updated"
	ActionProviderDeleted       = "provider.deleted"
	ActionProviderDiscovered    = "provider.discovered"
	ActionFlowUpdated           = "flow.updated"
	ActionBreakerReset          = "breaker.reset"
	subjectPrefix               = "cpib.audit."
	outcomeSuccess, outcomeFail = "success", "failure"
)

// Operator actions on ordered sequences (Ordering-Key).
const (
	// ActionSequenceSkipped: a blocked sequence's failed head was skipped.
	ActionSequenceSkipped = "sequence.skipped"
	// ActionSequenceReplayed: a blocked sequence's failed head was replayed.
	ActionSequenceReplayed = "sequence.replayed"
)

// Outcomes.
const (
	OutcomeSuccess = outcomeSuccess
	OutcomeFailure = outcomeFail
)

// Event is one audit record.
type Event struct {
	// Seq is the AUDIT stream sequence; set when read back.
	Seq uint64 `json:"seq,omitempty"`
	// Time is when it happened.
	Time time.Time `json:"time"`
	// Actor is the client ID that acted (or claimed to), empty if unknown.
	Actor string `json:"actor,omitempty"`
	// Action is one of the Action constants.
	Action string `json:"action"`
	// Target is what was acted on (a client ID, a flow ID, a key ID).
	Target string `json:"target,omitempty"`
	// Source is the caller's network address.
	Source string `json:"source,omitempty"`
	// Outcome is success or failure.
	Outcome string `json:"outcome"`
	// Detail explains: an error code, a token ID, changed field names.
	// Never a secret or a token.
	Detail string `json:"detail,omitempty"`
}

// Subject is where an event with action a is stored.
func Subject(action string) string { return subjectPrefix + action }
