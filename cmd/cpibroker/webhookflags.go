package main

import (
	"errors"
	"flag"
	"strings"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/delivery"
)

// webhookFlags configure results delivery (DESIGN 7).
type webhookFlags struct {
	allowPrivate bool
	schedule     scheduleFlag
	timeout      time.Duration
}

func (f *webhookFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.allowPrivate, "callbacks-allow-private", false,
		"let webhooks and Callback-URLs reach loopback and private addresses (never cloud metadata); --demo sets it")
	f.schedule = scheduleFlag(delivery.DefaultSchedule())
	fs.Var(&f.schedule, "webhook-schedule", "waits before each webhook retry, comma-separated (jittered ±20%, at least Retry-After)")
	fs.DurationVar(&f.timeout, "webhook-timeout", 15*time.Second, "timeout of one webhook attempt")
}

// apply sets the broker configuration; demo mode allows private targets.
func (f *webhookFlags) apply(cfg *broker.Config, demo bool) {
	cfg.Callbacks.AllowPrivate = f.allowPrivate || demo
	cfg.Delivery.Schedule = []time.Duration(f.schedule)
	cfg.Delivery.Timeout = f.timeout
}

// scheduleFlag is a comma-separated list of durations.
type scheduleFlag []time.Duration

func (s *scheduleFlag) String() string {
	parts := make([]string, len(*s))
	for i, d := range *s {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}

func (s *scheduleFlag) Set(v string) error {
	var out []time.Duration
	for p := range strings.SplitSeq(v, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(p))
		if err != nil || d < time.Second {
			return errors.New("each wait must be a duration of at least 1s, like 5s,5m,30m")
		}
		out = append(out, d)
	}
	*s = out
	return nil
}
