// Package keyring shares the broker's token signing keys between ingress
// processes (DESIGN 2.1).
//
// Each ingress signs with the Ed25519 private key in its --signing-key file
// and publishes the public half in the cpib-catalog bucket under
// keys.<kid>. Every ingress watches those entries: the union is its JWKS
// and the set of keys it verifies with, so a token signed by any ingress
// verifies on every other one. Rotation writes a new key file, publishes
// the new public key, switches signing to it and marks the old public key
// retired: it keeps verifying (and stays in the JWKS) until the last token
// it signed has expired, then every process forgets it and the entry is
// deleted.
package keyring
