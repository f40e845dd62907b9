// Package natsx owns cpibroker's use of NATS: starting the embedded
// JetStream server, connecting to it or to an external cluster, and the
// definitions of every stream, key-value bucket and object store the broker
// uses (the layout of DESIGN 6). Other packages receive a *Conn and never
// create JetStream resources themselves.
package natsx
