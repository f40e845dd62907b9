package main

import (
	"flag"
	"time"

	"github.com/cpibroker/cpibroker/catalog/discovery"
)

// registerDispatcher adds the flags of the dispatcher (`serve` and
// `cpibroker dispatcher`).
func (f *serveFlags) registerDispatcher(fs *flag.FlagSet) {
	fs.IntVar(&f.concurrency, "dispatch-concurrency", 256, "CPI calls in flight per dispatcher process")
	fs.Float64Var(&f.discoveryRPS, "discovery-rps", discovery.DefaultRequestsPerSecond, "pace of a provider's OData API reads during discovery, in requests per second (halved on each 429); SAP limits Cloud Integration's APIs per tenant and user")
	fs.DurationVar(&f.providerAuthRetry, "provider-auth-retry", 15*time.Second, "how often a job whose provider's credentials CPI refused tries again (waiting.reason provider_auth; no attempt used)")
}
