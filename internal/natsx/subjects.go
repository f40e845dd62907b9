package natsx

// Stream, bucket and subject names of DESIGN 6. Client and flow IDs are
// validated (^[a-z0-9][a-z0-9-]{0,62}$) before they reach a subject, so
// they never contain '.', '*', '>' or whitespace.
const (
	StreamJobs   = "JOBS"
	StreamEvents = "EVENTS"
	StreamDLQ    = "DLQ"
	StreamAudit  = "AUDIT"

	BucketJobs     = "cpib-jobs"
	BucketIdem     = "cpib-idem"
	BucketCatalog  = "cpib-catalog"
	BucketClients  = "cpib-clients"
	BucketQuota    = "cpib-quota"
	BucketBreakers = "cpib-breakers"
	BucketLeases   = "cpib-leases"
	ObjectPayloads = "cpib-payloads"
)

// QueueSubject is where new jobs of a client for a flow wait.
func QueueSubject(client, flow string) string { return "cpib.jobs.q." + client + "." + flow }

// RetrySubject is where jobs whose retry backoff has elapsed wait; it has its
// own consumer so a retry does not queue behind the client's backlog.
func RetrySubject(client, flow string) string { return "cpib.jobs.r." + client + "." + flow }

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
