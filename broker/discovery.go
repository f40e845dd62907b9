package broker

import (
	"time"

	"github.com/cpibroker/cpibroker/catalog/discovery"
	"github.com/cpibroker/cpibroker/internal/lease"
)

// newDiscovery builds the provider discovery runner: every process can
// discover on demand (admin API, a 404 from an iFlow); processes with the
// dispatcher role also run the periodic discovery, one at a time per
// provider across processes (the "discovery.<provider>" lease).
func (b *Broker) newDiscovery() error {
	lm, err := lease.New(lease.Config{KV: b.Resources.Leases, TTL: 30 * time.Second, Log: b.Config.Logger})
	if err != nil {
		return err
	}
	dc := b.Config.Discovery
	dc.Store, dc.KV, dc.Leases, dc.Log = b.Catalog, b.Resources.Catalog, lm, b.Config.Logger
	dc.TokenMemory = &b.tokenMemory
	if dc.Secrets.EnvPrefix == "" && dc.Secrets.Dir == "" {
		dc.Secrets = b.Config.Secrets
	}
	b.Discovery, err = discovery.New(dc)
	return err
}
