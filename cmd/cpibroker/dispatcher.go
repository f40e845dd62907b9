package main

import "flag"

// registerDispatcher adds the flags of the dispatcher (`serve` and
// `cpibroker dispatcher`).
func (f *serveFlags) registerDispatcher(fs *flag.FlagSet) {
	fs.IntVar(&f.concurrency, "dispatch-concurrency", 256, "CPI calls in flight per dispatcher process")
}
