// Package webhook holds what is shared about webhook delivery between the
// deliverer (delivery/) and the ingress (which checks targets at
// registration and submit): Standard Webhooks v1 signing, the endpoint lanes a
// client's targets map to, and the bound on a client's distinct Callback-URL
// origins (AdmitOrigin, over the cpib-callbacks bucket).
//
// Signing follows the Standard Webhooks specification v1: the signed
// content is "<webhook-id>.<webhook-timestamp>.<body>", signed with
// HMAC-SHA256 under the base64 key of the client's whsec_ secret, sent as
// "v1,<base64 signature>" in webhook-signature; during a secret rotation
// one signature per valid secret, space-separated.
package webhook
