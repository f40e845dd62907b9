package dispatcher

import (
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/cpibroker/cpibroker/internal/workqueue"
)

// JobQueue is the JOBS stream's key scheme on the work-queue engine, for
// the engine's conformance suite.
func JobQueue(res *natsx.Resources) workqueue.Config { return jobQueue(res, time.Now) }
