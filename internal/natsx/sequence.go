package natsx

import (
	"crypto/sha256"
	"encoding/hex"
)

// Names of ordered processing (Ordering-Key).
const (
	// StreamSeq holds jobs with an Ordering-Key, one subject per key.
	StreamSeq = "SEQ"
	// BucketSeq holds one cursor per active key: its head job.
	BucketSeq = "cpib-seq"
)

// KeyHash is the subject token of an ordering key: 16 hex digits of its
// SHA-256. The key itself travels in the job (a subject token must not
// carry '.', '*', '>' or spaces, and keys are up to 128 bytes).
func KeyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}

// SequenceID names the sequence of (client, flow, key): its cursor's key in
// BucketSeq and the suffix of its subject.
func SequenceID(client, flow, key string) string {
	return client + "." + flow + "." + KeyHash(key)
}

// SequenceSubject is where the jobs of one sequence wait, in order.
func SequenceSubject(seqID string) string { return "cpib.seq." + seqID }
