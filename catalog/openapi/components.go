package openapi

import (
	"net/http"
	"strconv"
)

// components are the schemas, problem responses with examples and
// security schemes the paths refer to.
func components(base string, scopes obj) obj {
	ts := obj{"type": "string", "format": "date-time"}
	return obj{
		"securitySchemes": obj{
			"oauth2": obj{
				"type":        "oauth2",
				"description": "OAuth 2.0 client credentials; send the token as Authorization: Bearer <token>.",
				"flows":       obj{"clientCredentials": obj{"tokenUrl": base + "/oauth/token", "scopes": scopes}},
			},
			"clientBasic": obj{"type": "http", "scheme": "basic", "description": "Client ID and secret, on the token endpoint only."},
		},
		"schemas": obj{
			"Problem": obj{
				"type": "object", "description": "RFC 9457 problem details.",
				"required": []any{"type", "title", "status", "code"},
				"properties": obj{
					"type":   obj{"type": "string"},
					"title":  obj{"type": "string"},
					"status": obj{"type": "integer"},
					"detail": obj{"type": "string"},
					"code": obj{"type": "string", "enum": []any{
						"invalid_request", "invalid_name", "callback_not_allowed", "invalid_token", "forbidden",
						"flow_not_found", "job_not_found", "not_found", "flow_disabled", "flow_unavailable",
						"not_finished", "no_result", "not_cancelable", "idempotency_key_in_use", "payload_too_large",
						"idempotency_key_reused", "backlog_full", "too_many_attempts", "unavailable",
					}},
				},
			},
			"Job": obj{
				"type": "object", "required": []any{"id", "flow", "status", "run", "attempts", "created_at", "updated_at"},
				"properties": obj{
					"id":           obj{"type": "string"},
					"flow":         obj{"type": "string"},
					"status":       obj{"type": "string", "enum": []any{"queued", "running", "succeeded", "failed", "canceled"}},
					"run":          obj{"type": "integer", "minimum": 1},
					"attempts":     obj{"type": "integer", "minimum": 0},
					"created_at":   ts,
					"updated_at":   ts,
					"completed_at": ts,
					"expires_at":   ts,
					"waiting": obj{"type": "object", "required": []any{"reason"}, "properties": obj{
						"reason": obj{"type": "string", "enum": []any{"quota", "concurrency", "breaker_open", "retry_backoff", "flow_disabled", "flow_unavailable", "client_disabled", "sequence", "sequence_blocked"}},
						"until":  ts,
						"job":    obj{"type": "string", "description": "The job an ordered job waits for (reasons sequence and sequence_blocked)."},
					}},
					"result": ref("schemas", "JobResult"),
					"error": obj{"type": "object", "required": []any{"code"}, "properties": obj{
						"code":        obj{"type": "string", "enum": []any{"cpi_error", "attempts_exhausted", "expired", "flow_unavailable", "canceled"}},
						"message":     obj{"type": "string"},
						"status_code": obj{"type": "integer"},
					}},
				},
			},
			"JobResult": obj{
				"type": "object", "required": []any{"status_code", "size", "url"},
				"properties": obj{
					"status_code":    obj{"type": "integer"},
					"content_type":   obj{"type": "string"},
					"size":           obj{"type": "integer", "minimum": 0},
					"cpi_message_id": obj{"type": "string"},
					"url":            obj{"type": "string"},
					"body":           obj{"type": "string", "description": "Events only: CPI's body when at most 16 KiB."},
					"body_encoding":  obj{"type": "string", "enum": []any{"utf-8", "base64"}},
				},
			},
			"Event": obj{
				"type": "object", "required": []any{"type", "timestamp", "data"},
				"properties": obj{
					"id":        obj{"type": "string"},
					"type":      obj{"type": "string", "enum": []any{"job.succeeded", "job.failed", "job.canceled"}},
					"timestamp": ts,
					"data":      ref("schemas", "Job"),
				},
			},
			"EventPage": obj{
				"type": "object", "required": []any{"items"},
				"properties": obj{
					"items":       obj{"type": "array", "items": ref("schemas", "Event")},
					"next_cursor": obj{"type": "string"},
				},
			},
			"Flow": obj{
				"type": "object", "required": []any{"id", "status"},
				"properties": obj{
					"id":          obj{"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
					"title":       obj{"type": "string"},
					"description": obj{"type": "string"},
					"protocol":    obj{"type": "string"},
					"status":      obj{"type": "string", "enum": []any{"enabled", "disabled", "unavailable"}},
				},
			},
			"FlowList": obj{
				"type": "object", "required": []any{"items"},
				"properties": obj{"items": obj{"type": "array", "items": ref("schemas", "Flow")}},
			},
			"Token": obj{
				"type": "object", "required": []any{"access_token", "token_type", "expires_in"},
				"properties": obj{
					"access_token": obj{"type": "string"},
					"token_type":   obj{"type": "string", "examples": []any{"Bearer"}},
					"expires_in":   obj{"type": "integer"},
					"scope":        obj{"type": "string"},
				},
			},
			"OAuthError": obj{
				"type": "object", "required": []any{"error"},
				"properties": obj{
					"error":             obj{"type": "string", "enum": []any{"invalid_request", "invalid_client", "invalid_scope", "unsupported_grant_type", "too_many_attempts"}},
					"error_description": obj{"type": "string"},
				},
			},
		},
		"responses": problemResponseDefs(),
		"examples": obj{
			"QueuedJob": obj{"value": obj{
				"id": "01JD0Q4Z8M5X3V7K2N9P6R1T4W", "flow": "demo-echo", "status": "queued", "run": 1, "attempts": 0,
				"created_at": "2026-01-02T03:04:05.123Z", "updated_at": "2026-01-02T03:04:05.123Z",
				"expires_at": "2026-01-03T03:04:05.123Z",
			}},
		},
	}
}

// problemResponseDefs are the shared error answers, each with examples of
// its codes.
func problemResponseDefs() obj {
	defs := []struct {
		name, status, description string
		codes                     map[string]string
	}{
		{"BadRequest", "400", "The request is malformed.", map[string]string{
			"invalid_request": "Prefer: wait must be at most 60", "callback_not_allowed": "Callback-URL does not start with one of your callback prefixes"}},
		{"Unauthorized", "401", "Missing, invalid or expired token (WWW-Authenticate: Bearer error=\"invalid_token\").", map[string]string{
			"invalid_token": "the access token is missing, invalid or expired"}},
		{"NotFound", "404", "No such flow (or not granted), or no such job.", map[string]string{
			"flow_not_found": "no such flow", "job_not_found": "no such job"}},
		{"Conflict", "409", "The flow or the job is not in a state that allows this.", map[string]string{
			"flow_disabled": "the flow is disabled", "flow_unavailable": "the flow's iFlow is not deployed",
			"not_finished": "the job has not finished", "no_result": "the job ended without a CPI response",
			"not_cancelable": "only a queued job can be canceled", "idempotency_key_in_use": "a request with this Idempotency-Key is still in flight"}},
		{"PayloadTooLarge", "413", "The payload is above the limit.", map[string]string{
			"payload_too_large": "the payload is larger than 64 MiB"}},
		{"Unprocessable", "422", "The Idempotency-Key was used with another request.", map[string]string{
			"idempotency_key_reused": "this Idempotency-Key was used with a different request"}},
		{"TooManyRequests", "429", "Too many queued jobs; see Retry-After and the RateLimit headers.", map[string]string{
			"backlog_full": "too many queued jobs for this client"}},
		{"Unavailable", "503", "Temporarily unavailable; nothing was stored. See Retry-After.", map[string]string{
			"unavailable": "temporarily unavailable"}},
	}
	out := obj{}
	for _, d := range defs {
		examples := obj{}
		status, _ := strconv.Atoi(d.status)
		for code, detail := range d.codes {
			examples[code] = obj{"value": obj{
				"type": "urn:cpibroker:problem:" + code, "title": http.StatusText(status), "status": status,
				"detail": detail, "code": code,
			}}
		}
		resp := obj{
			"description": d.description,
			"content":     obj{"application/problem+json": obj{"schema": ref("schemas", "Problem"), "examples": examples}},
		}
		if d.status == "429" || d.status == "503" {
			resp["headers"] = obj{"Retry-After": obj{"description": "Seconds to wait.", "schema": obj{"type": "integer"}}}
		}
		out[d.name] = resp
	}
	return out
}
