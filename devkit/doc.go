// Package devkit is the folder of the tools around the product, above the
// composition root (broker/) and never imported by it: the CPI simulator
// (devkit/cpisim, also `cpibroker cpisim` and demo mode), demo mode
// (devkit/demo), the test systems (devkit/testkit), the benchmark
// (devkit/bench), the local multi-process cluster (devkit/localcluster),
// the admin CLI (devkit/adminclient), and the tests that need a whole
// system or cluster of their own (devkit/faults, devkit/e2e).
package devkit
