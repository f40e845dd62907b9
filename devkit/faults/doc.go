// Package faults holds the fault-injection tests of cpibroker's delivery
// promise (DESIGN 5): on a real 3-node JetStream cluster in the test
// process, with separate ingress and dispatcher roles, a lost node, a
// dispatcher cut off with jobs in flight, a stream leader stepping down
// and a CPI outage all end with every accepted job terminal exactly once.
// The package has no non-test code besides this comment.
package faults
