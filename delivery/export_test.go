package delivery

import (
	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/internal/workqueue"
)

// LaneQueue is the lanes' key scheme on the work-queue engine, with the
// lane consumers a Deliverer of cfg makes, for the engine's conformance
// suite.
func LaneQueue(cfg Config, res *natsx.Resources) workqueue.Config {
	cfg.setDefaults()
	d := &Deliverer{cfg: cfg, res: res}
	return laneQueue(res, d.createLaneConsumer)
}
