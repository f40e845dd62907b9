package cpisim

import "errors"

// Sentinel errors returned by the [Sim] methods; test them with errors.Is.
var (
	// ErrInvalidConfig wraps every problem found by [Config.Validate].
	ErrInvalidConfig = errors.New("invalid cpisim config")
	// ErrInvalidIFlow wraps every problem found in an [IFlow] or [Faults].
	ErrInvalidIFlow = errors.New("invalid iflow")
	// ErrUnknownIFlow is returned for an iFlow ID that is not deployed.
	ErrUnknownIFlow = errors.New("iflow not deployed")
	// ErrAddressInUse is returned when an iFlow's address (compared
	// case-insensitively) is already used by another deployed iFlow. A real
	// tenant deploys the second iFlow but does not start it (cpi.md 1.1);
	// the simulator refuses the deployment instead.
	ErrAddressInUse = errors.New("address already used by another iflow")
	// ErrStarted is returned by [Sim.Start] when the simulator already serves.
	ErrStarted = errors.New("cpisim already started")
	// ErrClosed is returned by [Sim.Start] after [Sim.Close].
	ErrClosed = errors.New("cpisim closed")
)
