// Package localcluster runs cpibroker's separate-process deployment on one
// machine over loopback, as `task cluster` does: three nats-server
// processes forming a JetStream cluster (deploy/nats/n*.conf), the CPI
// simulator, two ingress and two dispatcher processes, with the catalog
// seeded from deploy/local/seed.yaml. Chaos kills random processes under
// load and reports jobs accepted, completed and lost (`task cluster:chaos`).
package localcluster
