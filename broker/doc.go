// Package broker is the composition root: it composes cpibroker's
// components into one running system: the embedded NATS server (or a
// connection to an external cluster), the JetStream layout, the catalog,
// the identity (auth/), the ingress, the dispatcher and the deliverer, each
// a blocking Run(ctx) joined with errgroup, in the order they start and
// stop. The cpibroker command, the tests
// and the benchmark all start the system through it.
package broker
