// Package broker composes cpibroker's components into one running system:
// the embedded NATS server (or a connection to an external cluster), the
// JetStream layout, the catalog, the ingress and the dispatcher, each a
// blocking Run(ctx) joined with errgroup. The cpibroker command, the tests
// and the benchmark all start the system through it.
package broker
