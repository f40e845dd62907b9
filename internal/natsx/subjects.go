package natsx

import "strings"

// Stream, bucket and subject names of DESIGN 6. Client and flow IDs are
// validated (^[a-z0-9][a-z0-9-]{0,62}$) before they reach a subject, so
// they never contain '.', '*', '>' or whitespace.
const (
	StreamJobs   = "JOBS"
	StreamEvents = "EVENTS"
	StreamDLQ    = "DLQ"
	StreamAudit  = "AUDIT"
	// StreamDeliveries holds webhook delivery tasks (WorkQueue).
	StreamDeliveries = "DELIVERIES"
	// StreamAttempts keeps the delivery log: every callback attempt, per
	// job (limits retention, capped per job).
	StreamAttempts = "ATTEMPTS"

	BucketJobs     = "cpib-jobs"
	BucketIdem     = "cpib-idem"
	BucketCatalog  = "cpib-catalog"
	BucketClients  = "cpib-clients"
	BucketQuota    = "cpib-quota"
	BucketBreakers = "cpib-breakers"
	BucketLeases   = "cpib-leases"
	// BucketCallbacks holds, per client, the Callback-URL origins (lanes)
	// it used lately: the bound on distinct callback targets.
	BucketCallbacks = "cpib-callbacks"
	ObjectPayloads  = "cpib-payloads"
)

// QueueSubject is the subject of one new job of a client for a flow:
// cpib.jobs.q.<client>.<flow>.<job>. The job ID in the subject lets the
// queued message serve as the job's record until a dispatcher writes one
// (found with a direct get, JobLookup). The (client, flow) consumer filters
// ConsumerSubject, cpib.jobs.q.<client>.<flow>.>.
func QueueSubject(client, flow, jobID string) string {
	return "cpib.jobs.q." + client + "." + flow + "." + jobID
}

// RetrySubject is the subject of one job whose retry backoff has elapsed:
// cpib.jobs.r.<client>.<flow>.<job>. It has its own consumer so a retry
// does not queue behind the client's backlog.
func RetrySubject(client, flow, jobID string) string {
	return "cpib.jobs.r." + client + "." + flow + "." + jobID
}

// JobLookup is the subject filter that finds the queued message of job ID
// jobID: of client (any client when ""), for any flow.
func JobLookup(client, jobID string) string {
	if client == "" {
		client = "*"
	}
	return "cpib.jobs.q." + client + ".*." + jobID
}

// KindSubjects is the filter of every job subject of a kind (KindQueue,
// KindRetry).
func KindSubjects(kind string) string { return "cpib.jobs." + kind + ".>" }

// ParseJobSubject splits a subject made by QueueSubject or RetrySubject.
// Client and flow IDs never contain '.', and job IDs are ULIDs, so the
// subject has exactly six tokens.
func ParseJobSubject(subject string) (kind, client, flow, jobID string, ok bool) {
	parts := strings.Split(subject, ".")
	if len(parts) != 6 || parts[0] != "cpib" || parts[1] != "jobs" ||
		(parts[2] != KindQueue && parts[2] != KindRetry) || parts[3] == "" || parts[4] == "" || parts[5] == "" {
		return "", "", "", "", false
	}
	return parts[2], parts[3], parts[4], parts[5], true
}

// ScheduleSubject holds the one pending retry schedule of a job.
func ScheduleSubject(jobID string) string { return "cpib.jobs.s." + jobID }

// EventSubject is where a client's job events are appended.
func EventSubject(client string) string { return "cpib.events." + client }

// DLQSubject is where failed jobs of a client for a flow are kept.
func DLQSubject(client, flow string) string { return "cpib.dlq." + client + "." + flow }

// QueueConsumer names the durable consumer of QueueSubject(client, flow).
func QueueConsumer(client, flow string) string { return "q_" + client + "_" + flow }

// RetryConsumer names the durable consumer of RetrySubject(client, flow).
func RetryConsumer(client, flow string) string { return "r_" + client + "_" + flow }

// DeliverySubject is where delivery tasks of a client for one endpoint
// (lane) wait; each lane has its own consumer, so a slow receiver's backlog
// waits in JetStream without delaying other receivers.
func DeliverySubject(client, lane string) string { return "cpib.deliveries.q." + client + "." + lane }

// DeliveryScheduleSubject holds the one pending retry schedule of a
// delivery task.
func DeliveryScheduleSubject(taskID string) string { return "cpib.deliveries.s." + taskID }

// CallbackDLQSubject is where exhausted or refused deliveries of a client's
// events about a flow's jobs are kept. It has one token more than
// DLQSubject, so cpib.dlq.<client>.* selects failed jobs only.
func CallbackDLQSubject(client, flow string) string {
	return "cpib.dlq." + client + "." + flow + ".callback"
}

// AttemptSubject is where the callback attempts of one job are logged.
func AttemptSubject(client, jobID string) string { return "cpib.attempts." + client + "." + jobID }

// DispatchAttemptSubject is where the failed CPI calls of one job are
// logged (one token more than AttemptSubject, so the two never mix).
func DispatchAttemptSubject(client, jobID string) string {
	return "cpib.attempts." + client + "." + jobID + ".cpi"
}
