package natsx_test

import (
	"testing"

	"github.com/cpibroker/cpibroker/internal/natsx"
)

// TestSubjectParsers: what natsx names, natsx parses back, and nothing else.
func TestSubjectParsers(t *testing.T) {
	if c, l, ok := natsx.ParseLaneConsumer(natsx.LaneConsumer("acme", "w-hook")); !ok || c != "acme" || l != "w-hook" {
		t.Errorf("lane consumer: %q %q %v", c, l, ok)
	}
	if c, l, ok := natsx.ParseDeliverySubject(natsx.DeliverySubject("acme", "c-0123")); !ok || c != "acme" || l != "c-0123" {
		t.Errorf("delivery subject: %q %q %v", c, l, ok)
	}
	if c, ok := natsx.ParseEventSubject(natsx.EventSubject("acme")); !ok || c != "acme" {
		t.Errorf("event subject: %q %v", c, ok)
	}
	for _, bad := range []string{"", "d_", "d_acme", "q_acme_echo", "d__x", "d_a_b_c"} {
		if _, _, ok := natsx.ParseLaneConsumer(bad); ok {
			t.Errorf("lane consumer %q parsed", bad)
		}
	}
	for _, bad := range []string{"", "cpib.deliveries.s.x", "cpib.deliveries.q.acme", "cpib.deliveries.q.acme.x.y", "cpib.jobs.q.a.b"} {
		if _, _, ok := natsx.ParseDeliverySubject(bad); ok {
			t.Errorf("delivery subject %q parsed", bad)
		}
	}
	for _, bad := range []string{"", "cpib.events.", "cpib.events.a.b", "cpib.dlq.a"} {
		if _, ok := natsx.ParseEventSubject(bad); ok {
			t.Errorf("event subject %q parsed", bad)
		}
	}
}

func FuzzParseDeliverySubject(f *testing.F) {
	f.Add("cpib.deliveries.q.acme.w-hook")
	f.Fuzz(func(t *testing.T, s string) {
		if c, l, ok := natsx.ParseDeliverySubject(s); ok && natsx.DeliverySubject(c, l) != s {
			t.Fatalf("%q parsed as %q %q", s, c, l)
		}
	})
}
