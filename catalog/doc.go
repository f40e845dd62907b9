// Package catalog owns what partners can call and who they are: providers
// (CPI tenants and plain HTTP backends), flows with their policies, and
// clients with their grants. Everything lives in JetStream KV (cpib-catalog,
// cpib-clients) and is watched, so every process sees a change within a
// moment and reads it from memory on the hot path.
package catalog
