// Package e2e holds whole-system tests that need a test binary of their
// own, such as measuring the memory a 20 MiB payload round trip takes
// (other tests running in the same process would blur the measurement), or
// running cpibroker as a real process and sending it SIGTERM mid-load.
// It has no non-test code.
package e2e
