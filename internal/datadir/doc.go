// Package datadir guards a data directory against a second process: the
// embedded JetStream store, the signing key and the demo files must be
// written by one process at a time.
package datadir
