package natsx

import "strings"

// The keyed consumers of the DELIVERIES stream: one per (client, lane),
// where a lane is one webhook or one Callback-URL origin. IDs and lanes
// never contain '_' or '.'.

// DeliveryQueueFilter selects every lane subject (DeliverySubject); the
// retry schedules (DeliveryScheduleSubject) are not under it.
const DeliveryQueueFilter = "cpib.deliveries.q.>"

// LaneConsumer names the durable consumer of DeliverySubject(client, lane).
func LaneConsumer(client, lane string) string { return "d_" + client + "_" + lane }

// ParseLaneConsumer splits a LaneConsumer name.
func ParseLaneConsumer(name string) (client, lane string, ok bool) {
	parts := strings.Split(name, "_")
	if len(parts) != 3 || parts[0] != "d" || parts[1] == "" || parts[2] == "" {
		return "", "", false
	}
	return parts[1], parts[2], true
}

// ParseDeliverySubject splits a DeliverySubject.
func ParseDeliverySubject(subject string) (client, lane string, ok bool) {
	parts := strings.Split(subject, ".")
	if len(parts) != 5 || parts[0] != "cpib" || parts[1] != "deliveries" || parts[2] != "q" || parts[3] == "" || parts[4] == "" {
		return "", "", false
	}
	return parts[3], parts[4], true
}

// EventsFilter selects every client's job events (EventSubject).
const EventsFilter = "cpib.events.>"

// ParseEventSubject returns the client of an EventSubject.
func ParseEventSubject(subject string) (client string, ok bool) {
	client, ok = strings.CutPrefix(subject, "cpib.events.")
	return client, ok && client != "" && !strings.Contains(client, ".")
}

// KVPrefix is the subject prefix of a key-value bucket's entries
// ("$KV.<bucket>."), for reading a bucket's history as a stream.
func KVPrefix(bucket string) string { return "$KV." + bucket + "." }
