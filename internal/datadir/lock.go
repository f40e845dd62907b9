package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFile is the name of the lock file inside a data directory.
const LockFile = "cpibroker.lock"

// ErrInUse reports a data directory locked by another process (or by
// another lock in this one).
var ErrInUse = errors.New("data dir in use")

// Lock is an exclusive lock on a data directory, held until Release.
type Lock struct {
	f *os.File
}

// Acquire creates dir if needed and takes an exclusive, non-blocking flock
// on dir/cpibroker.lock, writing this process's PID into it. It touches
// nothing else in dir. When another process holds the lock, the error
// wraps ErrInUse and names that process's PID (as its lock file says).
// The kernel releases the lock when the process dies, so a stale file
// never blocks a restart.
func Acquire(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data dir lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is used by %s (lock file %s); stop it or choose another --data-dir",
				ErrInUse, dir, holder(path), path)
		}
		return nil, fmt.Errorf("data dir lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// holder names the process in the lock file, as far as it can be read.
func holder(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "another process"
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return "another process"
	}
	return "the cpibroker process with PID " + strconv.Itoa(pid)
}

// Release drops the lock. The file stays (removing it would let a third
// process lock a new file while a second still holds the old one).
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor releases the flock
	l.f = nil
	return err
}
