// Package audit records who did what to the broker's security state: tokens
// issued and refused, authorization denials, admin changes. Events go to
// the AUDIT stream on cpib.audit.<action> (DESIGN 3) and are read back
// with filters for GET /admin/v1/audit.
//
// Events never carry a secret or a token: only client IDs, token IDs
// (jti), error codes, source addresses and the names of changed fields.
// Recording is asynchronous and bounded, so a flood of refused requests
// never slows the request path; when the buffer is full, events are
// dropped and counted.
package audit
