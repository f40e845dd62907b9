// Package openapi generates the OpenAPI 3.1 document of the partner API
// for one client (DESIGN 2.7): one path per flow the client may call plus
// the token, job, result, cancel, events and flows endpoints, the OAuth 2.0
// client-credentials security scheme, and problem+json schemas with
// examples. The document is deterministic (sorted keys), so it is cached
// and compared byte for byte.
package openapi

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cpibroker/cpibroker/catalog"
)

// Info describes who the document is for and where the API lives.
type Info struct {
	// ServerURL is the public base URL of the broker (--public-url).
	ServerURL string
	// ClientID is the client the document is generated for.
	ClientID string
	// ClientName is its display name; optional.
	ClientName string
}

type obj = map[string]any

// Generate returns the OpenAPI 3.1 document, indented JSON, for a client
// that may call flows (in any order; they are sorted by ID).
func Generate(info Info, flows []catalog.Flow) ([]byte, error) {
	doc := Document(info, flows)
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return append(b, '\n'), nil
}

// Document returns the document as a JSON-ready tree.
func Document(info Info, flows []catalog.Flow) map[string]any {
	base := strings.TrimSuffix(info.ServerURL, "/")
	who := info.ClientID
	if info.ClientName != "" {
		who = info.ClientName + " (" + info.ClientID + ")"
	}
	scopes := obj{}
	paths := commonPaths()
	for _, f := range sortedFlows(flows) {
		scopes["flow:"+f.ID] = "Submit jobs to flow " + f.ID
		paths["/v1/flows/"+f.ID+"/jobs"] = obj{"post": submitOperation(f)}
	}
	return obj{
		"openapi":           "3.1.0",
		"jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
		"info": obj{
			"title":   "cpibroker partner API for " + who,
			"version": "1",
			"description": "Asynchronous calls of SAP Cloud Integration flows through cpibroker. " +
				"Get a token with your client credentials (POST /oauth/token), submit a job to a flow " +
				"(202 with the job), then poll GET /v1/jobs/{id} (or ?wait=30s), read the iFlow's answer " +
				"at GET /v1/jobs/{id}/result, or follow GET /v1/events. Errors are RFC 9457 problem+json " +
				"with a stable code.",
		},
		"servers":  []any{obj{"url": base}},
		"security": []any{obj{"oauth2": []any{}}},
		"tags": []any{
			obj{"name": "flows", "description": "The flows this client may call; one submit operation per flow."},
			obj{"name": "jobs", "description": "Job status, result and cancelation."},
			obj{"name": "events", "description": "The job event feed."},
			obj{"name": "auth", "description": "OAuth 2.0 client credentials."},
		},
		"paths":      paths,
		"components": components(base, scopes),
	}
}

func sortedFlows(flows []catalog.Flow) []catalog.Flow {
	out := append([]catalog.Flow(nil), flows...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].ID < out[j-1].ID; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func ref(kind, name string) obj { return obj{"$ref": "#/components/" + kind + "/" + name} }

// problemResponses are the error answers of an operation, by status.
func problemResponses(statuses ...string) obj {
	out := obj{}
	for _, s := range statuses {
		out[s] = ref("responses", problemResponseName[s])
	}
	return out
}

var problemResponseName = map[string]string{
	"400": "BadRequest", "401": "Unauthorized", "404": "NotFound", "409": "Conflict",
	"413": "PayloadTooLarge", "422": "Unprocessable", "429": "TooManyRequests", "503": "Unavailable",
}

func header(name, description string, schema obj) obj {
	return obj{"name": name, "in": "header", "required": false, "description": description, "schema": schema}
}

func str() obj { return obj{"type": "string"} }

// submitOperation is POST /v1/flows/{id}/jobs for one flow.
func submitOperation(f catalog.Flow) obj {
	title := f.Title
	if title == "" {
		title = f.ID
	}
	desc := f.Description
	if desc != "" {
		desc += "\n\n"
	}
	desc += fmt.Sprintf("Queues a job for flow `%s`. The body is the iFlow's payload, forwarded byte for byte with its Content-Type; the query string is forwarded too. The answer is 202 with the job once it is stored.", f.ID)
	switch f.Status {
	case catalog.FlowDisabled:
		desc += " The flow is currently disabled: submits answer 409 flow_disabled."
	case catalog.FlowUnavailable:
		desc += " The flow's iFlow is currently not deployed: submits answer 409 flow_unavailable."
	}
	params := []any{
		header("Idempotency-Key", "1-255 visible ASCII characters; the same key and body within 24 h give the same job.",
			obj{"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"}),
		header("Callback-URL", "Where to POST the job's terminal event; must start with one of the client's callback prefixes.",
			obj{"type": "string", "format": "uri"}),
		header("Prefer", "wait=N (N <= 60): answer with the result if the job ends within N seconds.",
			obj{"type": "string", "pattern": "^wait=[0-9]+$", "examples": []any{"wait=10"}}),
		header("Job-TTL", "Seconds until an undispatched job expires (default 86400).", obj{"type": "integer", "minimum": 1}),
	}
	switch f.Policy.Ordering.Mode() {
	case catalog.OrderingOptional:
		params = append(params, header("Ordering-Key", "Jobs with the same key run one at a time, in the order they were accepted (1-128 visible ASCII, e.g. an order number).",
			obj{"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[\\x21-\\x7e]+$"}))
	case catalog.OrderingRequired:
		p := header("Ordering-Key", "Required by this flow: jobs with the same key run one at a time, in the order they were accepted (1-128 visible ASCII). Missing: 400 ordering_key_required.",
			obj{"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[\\x21-\\x7e]+$"})
		p["required"] = true
		params = append(params, p)
	}
	if f.Wildcard() {
		params = append(params, header("Flow-Path", "Sub-path of the iFlow address, e.g. /orders/42.", obj{"type": "string", "pattern": "^/"}))
	}
	have := map[string]bool{"authorization": true, "content-type": true, "accept": true}
	for _, p := range params {
		have[strings.ToLower(p.(obj)["name"].(string))] = true
	}
	for _, h := range f.Policy.ForwardHeaders {
		if !have[strings.ToLower(h)] { // a parameter is named once
			have[strings.ToLower(h)] = true
			params = append(params, header(h, "Forwarded to the iFlow.", str()))
		}
	}
	contentType := "*/*"
	if strings.EqualFold(f.Protocol, "SOAP") {
		contentType = "text/xml"
	}
	responses := problemResponses("400", "401", "404", "409", "413", "422", "429", "503")
	responses["202"] = obj{
		"description": "Accepted: the job is stored and queued.",
		"headers": obj{
			"Location":    obj{"description": "The job resource.", "schema": str()},
			"Retry-After": obj{"description": "Seconds to wait before polling.", "schema": obj{"type": "integer"}},
		},
		"content": obj{"application/json": obj{"schema": ref("schemas", "Job"), "examples": obj{"queued": ref("examples", "QueuedJob")}}},
	}
	responses["200"] = obj{
		"description": "An idempotent replay of a finished job, or, with Prefer: wait=N, the iFlow's answer (as GET /v1/jobs/{id}/result).",
		"headers":     obj{"Job-Id": obj{"schema": str()}, "CPI-Status": obj{"schema": obj{"type": "integer"}}},
		"content":     obj{"*/*": obj{"schema": obj{}}},
	}
	return obj{
		"operationId": "submit_" + strings.ReplaceAll(f.ID, "-", "_"),
		"summary":     title,
		"description": desc,
		"tags":        []any{"flows"},
		"parameters":  params,
		"requestBody": obj{
			"required":    false,
			"description": "The iFlow's payload.",
			"content":     obj{contentType: obj{"schema": obj{}}},
		},
		"responses": responses,
		"security":  []any{obj{"oauth2": []any{"flow:" + f.ID}}},
	}
}

// commonPaths are the endpoints every client has.
func commonPaths() obj {
	jobID := obj{"name": "id", "in": "path", "required": true, "description": "The job ID (a ULID).", "schema": obj{"type": "string", "pattern": "^[0-9A-HJKMNP-TV-Z]{26}$"}}
	jobJSON := obj{"application/json": obj{"schema": ref("schemas", "Job")}}
	return obj{
		"/oauth/token": obj{"post": obj{
			"operationId": "token", "summary": "Get an access token", "tags": []any{"auth"},
			"description": "RFC 6749 client credentials: HTTP Basic (or client_id and client_secret in the form). An optional scope narrows the token (flow:<id> …).",
			"security":    []any{obj{"clientBasic": []any{}}, obj{}},
			"requestBody": obj{"required": true, "content": obj{"application/x-www-form-urlencoded": obj{"schema": obj{
				"type": "object", "required": []any{"grant_type"},
				"properties": obj{
					"grant_type":    obj{"type": "string", "const": "client_credentials"},
					"scope":         obj{"type": "string"},
					"client_id":     obj{"type": "string"},
					"client_secret": obj{"type": "string"},
				},
			}}}},
			"responses": obj{
				"200": obj{"description": "The token.", "content": obj{"application/json": obj{"schema": ref("schemas", "Token")}}},
				"400": obj{"description": "RFC 6749 error.", "content": obj{"application/json": obj{"schema": ref("schemas", "OAuthError")}}},
				"401": obj{"description": "invalid_client.", "content": obj{"application/json": obj{"schema": ref("schemas", "OAuthError")}}},
				"429": obj{"description": "Too many failed attempts; see Retry-After.", "content": obj{"application/json": obj{"schema": ref("schemas", "OAuthError")}}},
			},
		}},
		"/v1/flows": obj{"get": obj{
			"operationId": "listFlows", "summary": "The flows this client may call", "tags": []any{"flows"},
			"responses": mergeObj(problemResponses("401", "503"), obj{
				"200": obj{"description": "Flows.", "content": obj{"application/json": obj{"schema": ref("schemas", "FlowList")}}},
			}),
		}},
		"/v1/openapi.json": obj{"get": obj{
			"operationId": "openapi", "summary": "This document", "tags": []any{"flows"},
			"responses": mergeObj(problemResponses("401"), obj{
				"200": obj{"description": "The OpenAPI 3.1 document for this client.", "content": obj{"application/json": obj{"schema": obj{"type": "object"}}}},
			}),
		}},
		"/v1/jobs/{id}": obj{
			"get": obj{
				"operationId": "getJob", "summary": "A job", "tags": []any{"jobs"},
				"parameters": []any{jobID, obj{"name": "wait", "in": "query", "required": false,
					"description": "Long-poll up to this duration (at most 60s) until the job is terminal.",
					"schema":      obj{"type": "string", "pattern": "^[0-9]+(ms|s|m)?$", "examples": []any{"30s"}}}},
				"responses": mergeObj(problemResponses("400", "401", "404", "503"), obj{
					"200": obj{"description": "The job.", "content": jobJSON},
				}),
			},
			"delete": obj{
				"operationId": "cancelJob", "summary": "Cancel a queued job", "tags": []any{"jobs"},
				"parameters": []any{jobID},
				"responses": mergeObj(problemResponses("401", "404", "409", "503"), obj{
					"200": obj{"description": "The canceled job.", "content": jobJSON},
				}),
			},
		},
		"/v1/jobs/{id}/result": obj{"get": obj{
			"operationId": "getResult", "summary": "The iFlow's answer", "tags": []any{"jobs"},
			"description": "CPI's body with its content type, once the job is terminal with a CPI response.",
			"parameters":  []any{jobID},
			"responses": mergeObj(problemResponses("401", "404", "409", "503"), obj{
				"200": obj{
					"description": "CPI's answer body.",
					"headers": obj{
						"Job-Status": obj{"description": "The job's status.", "schema": str()},
						"CPI-Status": obj{"description": "CPI's HTTP status code.", "schema": obj{"type": "integer"}},
					},
					"content": obj{"*/*": obj{"schema": obj{}}},
				},
			}),
		}},
		"/v1/jobs": obj{"get": obj{
			"operationId": "listJobs", "summary": "Your recent jobs, newest first", "tags": []any{"jobs"},
			"description": "A bounded search of the most recent job records (older jobs are read by ID).",
			"parameters": []any{
				obj{"name": "flow", "in": "query", "required": false, "schema": str()},
				obj{"name": "status", "in": "query", "required": false, "schema": obj{"type": "string", "enum": []any{"queued", "running", "succeeded", "failed", "canceled"}}},
				obj{"name": "since", "in": "query", "required": false, "description": "RFC 3339 time.", "schema": obj{"type": "string", "format": "date-time"}},
				obj{"name": "until", "in": "query", "required": false, "description": "RFC 3339 time.", "schema": obj{"type": "string", "format": "date-time"}},
				obj{"name": "limit", "in": "query", "required": false, "schema": obj{"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
			},
			"responses": mergeObj(problemResponses("400", "401", "503"), obj{
				"200": obj{"description": "Jobs.", "content": obj{"application/json": obj{"schema": itemsOf(ref("schemas", "Job"))}}},
			}),
		}},
		"/v1/jobs/{id}/deliveries": obj{"get": obj{
			"operationId": "listDeliveries", "summary": "Every callback attempt of a job", "tags": []any{"jobs"},
			"description": "Each webhook or Callback-URL attempt, oldest first: time, target, HTTP status, outcome, duration and error.",
			"parameters":  []any{jobID},
			"responses": mergeObj(problemResponses("401", "404", "503"), obj{
				"200": obj{"description": "Attempts.", "content": obj{"application/json": obj{"schema": itemsOf(deliveryAttempt())}}},
			}),
		}},
		"/v1/jobs/{id}/deliveries/resend": obj{"post": obj{
			"operationId": "resendDeliveries", "summary": "Deliver a job's event again", "tags": []any{"jobs"},
			"description": "Queues the job's kept event again to every target it was delivered to.",
			"parameters":  []any{jobID},
			"responses": mergeObj(problemResponses("401", "404", "409", "503"), obj{
				"202": obj{"description": "Queued.", "content": obj{"application/json": obj{"schema": obj{
					"type": "object", "required": []any{"queued"}, "properties": obj{"queued": obj{"type": "integer"}}}}}},
			}),
		}},
		"/v1/jobs/{id}/attempts": obj{"get": obj{
			"operationId": "listAttempts", "summary": "The failed CPI calls of a job", "tags": []any{"jobs"},
			"description": "Each failed call to the iFlow (retried or final), oldest first; a successful call is the job's result.",
			"parameters":  []any{jobID},
			"responses": mergeObj(problemResponses("401", "404", "503"), obj{
				"200": obj{"description": "Attempts.", "content": obj{"application/json": obj{"schema": itemsOf(obj{
					"type": "object", "required": []any{"at", "run", "attempt", "outcome"},
					"properties": obj{"at": obj{"type": "string", "format": "date-time"}, "run": obj{"type": "integer"},
						"attempt": obj{"type": "integer"}, "status": obj{"type": "integer"}, "outcome": str(), "code": str(),
						"error": str(), "duration_ms": obj{"type": "number"}, "cpi_message_id": str()},
				})}}},
			}),
		}},
		"/v1/webhooks": obj{"get": obj{
			"operationId": "listWebhooks", "summary": "Your webhooks", "tags": []any{"events"},
			"responses": mergeObj(problemResponses("401", "503"), obj{
				"200": obj{"description": "Webhooks (no secrets).", "content": obj{"application/json": obj{"schema": itemsOf(obj{
					"type": "object", "required": []any{"id", "url", "events", "enabled"},
					"properties": obj{"id": str(), "url": obj{"type": "string", "format": "uri"},
						"events": obj{"type": "array", "items": str()}, "enabled": obj{"type": "boolean"}, "disabled_reason": str()},
				})}}},
			}),
		}},
		"/v1/events": obj{"get": obj{
			"operationId": "listEvents", "summary": "Job events in order", "tags": []any{"events"},
			"description": "The webhook payloads of this client's jobs, in order, with a cursor; for partners that cannot receive webhooks.",
			"parameters": []any{
				obj{"name": "after", "in": "query", "required": false, "description": "next_cursor of the previous page.", "schema": str()},
				obj{"name": "limit", "in": "query", "required": false, "schema": obj{"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
				obj{"name": "wait", "in": "query", "required": false, "description": "Long-poll for new events (at most 60s).", "schema": str()},
			},
			"responses": mergeObj(problemResponses("400", "401", "503"), obj{
				"200": obj{"description": "A page of events.", "content": obj{"application/json": obj{"schema": ref("schemas", "EventPage")}}},
			}),
		}},
	}
}

// itemsOf is a list page of item.
func itemsOf(item any) obj {
	return obj{"type": "object", "required": []any{"items"}, "properties": obj{
		"items": obj{"type": "array", "items": item}, "next_cursor": str()}}
}

// deliveryAttempt is one logged callback attempt.
func deliveryAttempt() obj {
	return obj{"type": "object", "required": []any{"at", "target", "event_id", "event_type", "run", "attempt", "outcome", "duration_ms"},
		"properties": obj{"at": obj{"type": "string", "format": "date-time"}, "target": obj{"type": "string", "format": "uri"},
			"webhook_id": str(), "event_id": str(), "event_type": str(), "run": obj{"type": "integer"},
			"attempt": obj{"type": "integer"}, "replay": obj{"type": "integer"}, "status": obj{"type": "integer"},
			"outcome":     obj{"type": "string", "enum": []any{"delivered", "retry", "gone", "rejected", "refused"}},
			"duration_ms": obj{"type": "number"}, "error": str(), "trace_id": str()}}
}

func mergeObj(a, b obj) obj {
	for k, v := range b {
		a[k] = v
	}
	return a
}
