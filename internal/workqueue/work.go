package workqueue

import "sync"

// Work counts the messages in flight so that shutdown can wait for them,
// and refuses new ones once closing: a runner that gets a message after
// Close hands it back (Nak) at once, so JetStream redelivers it to another
// process instead of it waiting out the ack wait. The zero value is ready.
type Work struct {
	wg      sync.WaitGroup
	mu      sync.Mutex // orders wg.Add against the final wg.Wait
	closing bool
}

// Start counts a message in; false once closing (hand it back).
func (w *Work) Start() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing {
		return false
	}
	w.wg.Add(1)
	return true
}

// Done counts a message out.
func (w *Work) Done() { w.wg.Done() }

// Close refuses new messages and waits for those in flight.
func (w *Work) Close() { <-w.Drain() }

// Drain refuses new messages and returns a channel closed once those in
// flight are done, for a shutdown that waits only so long.
func (w *Work) Drain() <-chan struct{} {
	w.mu.Lock()
	w.closing = true // no Start succeeds after this, so Wait cannot race an Add
	w.mu.Unlock()
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	return done
}

// Closing reports whether Close was called.
func (w *Work) Closing() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closing
}
