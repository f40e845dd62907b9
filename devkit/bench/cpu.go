package bench

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of /proc CPU times (USER_HZ, 100 on every Linux
// architecture Go supports).
const userHZ = 100

// CPUUsage is how busy the machine was during a phase, in cores (1.0 =
// one core fully busy): this process (the broker, the simulator and the
// load generator together) and everything else. A large Other means
// another workload shared the machine and the phase's numbers are noisy.
// Linux only (from /proc); absent elsewhere.
type CPUUsage struct {
	Process float64 `json:"process_cores"`
	Other   float64 `json:"other_cores"`
}

// cpuSample is a reading of the CPU counters, in USER_HZ ticks.
type cpuSample struct {
	at          time.Time
	machineBusy uint64
	self        uint64
	ok          bool
}

// sampleCPU reads /proc/stat and /proc/self/stat; ok is false when either
// is unavailable.
func sampleCPU() cpuSample {
	s := cpuSample{at: time.Now()}
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	self, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return s
	}
	busy, err1 := parseProcStat(stat)
	mine, err2 := parseSelfStat(self)
	if err1 != nil || err2 != nil {
		return s
	}
	s.machineBusy, s.self, s.ok = busy, mine, true
	return s
}

// usageSince returns the usage between two samples (nil if unknown).
func usageSince(a, b cpuSample) *CPUUsage {
	secs := b.at.Sub(a.at).Seconds()
	if !a.ok || !b.ok || secs <= 0 || b.machineBusy < a.machineBusy || b.self < a.self {
		return nil
	}
	busy := float64(b.machineBusy-a.machineBusy) / userHZ
	mine := float64(b.self-a.self) / userHZ
	return &CPUUsage{Process: round(mine/secs, 2), Other: round(max(busy-mine, 0)/secs, 2)}
}

// parseProcStat returns the busy ticks of the "cpu" line of /proc/stat:
// everything but idle and iowait (guest time is already in user).
func parseProcStat(b []byte) (uint64, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 8 || f[0] != "cpu" {
		return 0, errors.New("bench: unexpected /proc/stat")
	}
	var busy uint64
	for i, v := range f[1:min(len(f), 9)] { // user nice system idle iowait irq softirq steal
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, err
		}
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return busy, nil
}

// parseSelfStat returns utime+stime of /proc/self/stat (fields 14 and 15,
// counted after the parenthesized command name, which may hold spaces).
func parseSelfStat(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("bench: unexpected /proc/self/stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 { // f[0] is field 3 (state)
		return 0, errors.New("bench: short /proc/self/stat")
	}
	u, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return 0, err
	}
	s, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return 0, err
	}
	return u + s, nil
}
