package datadir_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cpibroker/cpibroker/internal/datadir"
)

func TestAcquireIsExclusiveAndNamesTheHolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	l, err := datadir.Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = datadir.Acquire(dir)
	if !errors.Is(err, datadir.ErrInUse) || !strings.Contains(err.Error(), "PID "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second lock: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := datadir.Acquire(dir)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	_ = l2.Release()
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("the lock touched more than its file: %v", entries)
	}
}
