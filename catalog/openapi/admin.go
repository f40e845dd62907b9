package openapi

import (
	"encoding/json"
	"fmt"
	"strings"
)

// GenerateAdmin returns the OpenAPI 3.1 document of the admin API
// (/admin/v1) of a broker at serverURL, indented JSON. It is the same for
// every admin client.
func GenerateAdmin(serverURL string) ([]byte, error) {
	b, err := json.MarshalIndent(AdminDocument(serverURL), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return append(b, '\n'), nil
}

// adminOp is one operation of the admin API.
type adminOp struct {
	method, path, tag, summary string
	body                       string   // request schema name ("" = none)
	ok                         string   // success status
	answer                     string   // response schema name ("" = no body)
	query                      []string // query parameters
	errors                     []string // problem statuses besides 401/403
}

// adminOps are the operations, in the order of the document's paths.
var adminOps = []adminOp{
	{"post", "/admin/v1/clients", "clients", "Create a client; the answer shows its secrets once", "ClientInput", "201", "ClientCreated", nil, []string{"400", "409", "413"}},
	{"get", "/admin/v1/clients", "clients", "List clients", "", "200", "ClientPage", []string{"limit", "cursor"}, []string{"400"}},
	{"get", "/admin/v1/clients/{id}", "clients", "Read a client (no secrets)", "", "200", "Client", nil, []string{"400", "404"}},
	{"patch", "/admin/v1/clients/{id}", "clients", "Change a client's fields", "ClientInput", "200", "Client", nil, []string{"400", "404", "409", "413"}},
	{"delete", "/admin/v1/clients/{id}", "clients", "Delete a client; its tokens stop working", "", "204", "", nil, []string{"400", "404"}},
	{"post", "/admin/v1/clients/{id}/rotate-secret", "clients", "New client secret; the old one works for the overlap", "Rotate", "200", "Rotated", []string{"overlap"}, []string{"400", "404"}},
	{"post", "/admin/v1/clients/{id}/rotate-webhook-secret", "clients", "New webhook signing secret; both sign during the overlap", "Rotate", "200", "Rotated", []string{"overlap"}, []string{"400", "404"}},
	{"get", "/admin/v1/audit", "audit", "Read the audit log", "", "200", "AuditPage", []string{"actor", "action", "since", "until", "limit", "cursor"}, []string{"400"}},
	{"get", "/admin/v1/keys", "keys", "The token signing keys", "", "200", "KeyPage", nil, nil},
	{"post", "/admin/v1/keys/rotate", "keys", "Start signing with a new key", "", "200", "Object", nil, []string{"503"}},
	{"post", "/admin/v1/providers", "providers", "Create a provider (a CPI tenant or an HTTP backend)", "Object", "201", "Provider", nil, []string{"400", "409", "413"}},
	{"get", "/admin/v1/providers", "providers", "List providers", "", "200", "ProviderPage", []string{"limit", "cursor"}, []string{"400"}},
	{"get", "/admin/v1/providers/{id}", "providers", "Read a provider (secrets redacted)", "", "200", "Provider", nil, []string{"400", "404"}},
	{"patch", "/admin/v1/providers/{id}", "providers", "Change a provider", "Object", "200", "Provider", nil, []string{"400", "404", "413"}},
	{"delete", "/admin/v1/providers/{id}", "providers", "Delete a provider", "", "204", "", nil, []string{"400", "404", "409"}},
	{"post", "/admin/v1/providers/{id}/test", "providers", "Test Connection: each key's token and one call; ok false names the failing step", "", "200", "TestReport", nil, []string{"400", "404", "503"}},
	{"post", "/admin/v1/providers/{id}/discover", "providers", "Discover the tenant's iFlows now", "", "200", "DiscoverResult", nil, []string{"400", "404", "409", "503"}},
	{"get", "/admin/v1/flows", "flows", "List flows", "", "200", "FlowPage", []string{"provider", "status", "limit", "cursor"}, []string{"400"}},
	{"get", "/admin/v1/flows/{id}", "flows", "Read a flow", "", "200", "Flow", nil, []string{"400", "404"}},
	{"patch", "/admin/v1/flows/{id}", "flows", "Enable, disable or change a flow's title and policy", "Object", "200", "Flow", nil, []string{"400", "404", "413"}},
	{"get", "/admin/v1/dlq", "dlq", "Failed jobs and dead webhook deliveries", "", "200", "DLQPage", []string{"client", "flow", "kind", "code", "job", "since", "until", "limit", "cursor"}, []string{"400", "503"}},
	{"post", "/admin/v1/dlq/replay", "dlq", "Replay DLQ entries by ID or filter", "Object", "200", "Object", nil, []string{"400", "503"}},
	{"get", "/admin/v1/breakers", "breakers", "The flows' and callback endpoints' circuit breakers", "", "200", "Page", nil, nil},
	{"post", "/admin/v1/breakers/{id}/reset", "breakers", "Close a flow's breaker", "", "200", "Object", nil, []string{"400", "404"}},
	{"get", "/admin/v1/sequences", "sequences", "Ordered sequences (client, flow, Ordering-Key) with a job queued, running or blocked", "", "200", "Page", []string{"state", "client", "flow", "limit", "cursor"}, []string{"400", "503"}},
	{"get", "/admin/v1/sequences/{id}", "sequences", "Read one ordered sequence", "", "200", "Object", nil, []string{"404"}},
	{"post", "/admin/v1/sequences/{id}/skip", "sequences", "Release a blocked sequence: its failed job stays failed, the next job of the key runs", "", "200", "Object", nil, []string{"404", "409"}},
	{"post", "/admin/v1/sequences/{id}/replay", "sequences", "Run a blocked sequence's failed job again (run+1) as its head", "", "200", "Object", nil, []string{"404", "409"}},
	{"get", "/admin/v1/jobs", "jobs", "Find jobs", "", "200", "Page", []string{"client", "flow", "status", "limit", "cursor"}, []string{"400", "503"}},
	{"get", "/admin/v1/jobs/{id}", "jobs", "Read any client's job", "", "200", "Object", nil, []string{"400", "404"}},
	{"get", "/admin/v1/jobs/{id}/deliveries", "jobs", "A job's webhook deliveries", "", "200", "Object", nil, []string{"400", "404"}},
	{"get", "/admin/v1/jobs/{id}/attempts", "jobs", "A job's CPI call attempts", "", "200", "Object", nil, []string{"400", "404"}},
	{"post", "/admin/v1/jobs/{id}/deliveries/resend", "jobs", "Deliver a job's kept events again", "Object", "200", "Object", nil, []string{"400", "404", "409"}},
	{"get", "/admin/v1/openapi.json", "meta", "This document", "", "200", "Object", nil, nil},
}

// AdminOperations lists "METHOD /path" of every operation in the document
// (for tests that compare it with the routes served).
func AdminOperations() []string {
	out := make([]string, 0, len(adminOps))
	for _, op := range adminOps {
		out = append(out, strings.ToUpper(op.method)+" "+op.path)
	}
	return out
}

// AdminDocument returns the admin API document as a JSON-ready tree.
func AdminDocument(serverURL string) map[string]any {
	base := strings.TrimSuffix(serverURL, "/")
	paths := obj{}
	for _, op := range adminOps {
		item, _ := paths[op.path].(obj)
		if item == nil {
			item = obj{}
			paths[op.path] = item
		}
		o := obj{
			"operationId": operationID(op), "tags": []any{op.tag}, "summary": op.summary,
			"responses": adminResponses(op),
		}
		var params []any
		if strings.Contains(op.path, "{id}") {
			params = append(params, obj{"name": "id", "in": "path", "required": true, "schema": obj{"type": "string"}})
		}
		for _, q := range op.query {
			params = append(params, obj{"name": q, "in": "query", "required": false, "schema": obj{"type": "string"}})
		}
		if params != nil {
			o["parameters"] = params
		}
		if op.body != "" {
			o["requestBody"] = obj{"required": op.method == "post" && op.body != "Rotate",
				"content": obj{"application/json": obj{"schema": ref("schemas", op.body)}}}
		}
		item[op.method] = o
	}
	return obj{
		"openapi":           "3.1.0",
		"jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
		"info": obj{
			"title": "cpibroker admin API", "version": "1",
			"description": "Operator API of cpibroker: clients, providers and flows, keys, audit, DLQ, breakers " +
				"and jobs. Every call needs a token with the admin scope (POST /oauth/token with an admin " +
				"client's credentials). Lists are pages: items and next_cursor (pass it back as ?cursor=). " +
				"Errors are RFC 9457 problem+json with a stable code. `cpibroker admin` is a client of this API.",
		},
		"servers":  []any{obj{"url": base}},
		"security": []any{obj{"oauth2": []any{"admin"}}},
		"paths":    paths,
		"components": obj{
			"securitySchemes": obj{"oauth2": obj{
				"type": "oauth2", "description": "OAuth 2.0 client credentials of a client with the admin role.",
				"flows": obj{"clientCredentials": obj{"tokenUrl": base + "/oauth/token", "scopes": obj{"admin": "The admin API"}}},
			}},
			"schemas":   adminSchemas(),
			"responses": adminProblemResponses(),
		},
	}
}

func operationID(op adminOp) string {
	var b strings.Builder
	b.WriteString(op.method)
	for _, p := range strings.Split(strings.TrimPrefix(op.path, "/admin/v1/"), "/") {
		p = strings.Trim(p, "{}")
		for _, w := range strings.FieldsFunc(p, func(r rune) bool { return r == '-' || r == '.' }) {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

func adminResponses(op adminOp) obj {
	out := obj{"401": ref("responses", "Unauthorized"), "403": ref("responses", "Forbidden")}
	if op.answer == "" {
		out[op.ok] = obj{"description": "Done"}
	} else {
		out[op.ok] = obj{"description": "OK", "content": obj{"application/json": obj{"schema": ref("schemas", op.answer)}}}
	}
	for _, s := range op.errors {
		out[s] = ref("responses", "Problem"+s)
	}
	return out
}

func adminProblemResponses() obj {
	out := obj{}
	problemOf := func(desc string) obj {
		return obj{"description": desc, "content": obj{"application/problem+json": obj{"schema": ref("schemas", "Problem")}}}
	}
	out["Unauthorized"] = problemOf("No valid bearer token (invalid_token)")
	out["Forbidden"] = problemOf("The token lacks the admin scope (forbidden)")
	for s, d := range map[string]string{"400": "Invalid request", "404": "No such resource", "409": "Conflict",
		"413": "Body too large", "503": "Unavailable; retry after Retry-After"} {
		out["Problem"+s] = problemOf(d)
	}
	return out
}

func adminSchemas() obj {
	object := obj{"type": "object"}
	strs := obj{"type": "array", "items": obj{"type": "string"}}
	page := func(item string) obj {
		return obj{"type": "object", "required": []any{"items"}, "properties": obj{
			"items":       obj{"type": "array", "items": ref("schemas", item)},
			"next_cursor": obj{"type": "string", "description": "Pass back as ?cursor= for the next page; absent at the end."},
		}}
	}
	client := obj{"type": "object", "required": []any{"id", "roles", "enabled", "grants"}, "properties": obj{
		"id": obj{"type": "string"}, "name": obj{"type": "string"}, "roles": strs, "enabled": obj{"type": "boolean"},
		"grants": strs, "callback_prefixes": strs, "webhooks": obj{"type": "array", "items": object},
		"weight": obj{"type": "integer"}, "max_backlog": obj{"type": "integer"}, "external_ids": strs,
		"warnings": obj{"type": "array", "items": obj{"type": "string"},
			"description": "In the answers of create and patch: what was accepted but looks wrong (grants of flows that do not exist yet)."},
	}}
	created := obj{"allOf": []any{ref("schemas", "Client"), obj{"type": "object", "required": []any{"client_secret"}, "properties": obj{
		"client_secret": obj{"type": "string"}, "webhook_secret": obj{"type": "string"},
	}}}}
	return obj{
		"Object": object,
		"Problem": obj{"type": "object", "description": "RFC 9457 problem details.", "required": []any{"type", "title", "status", "code"},
			"properties": obj{"type": obj{"type": "string"}, "title": obj{"type": "string"}, "status": obj{"type": "integer"},
				"detail": obj{"type": "string"}, "code": obj{"type": "string"}}},
		"Page":          page("Object"),
		"Client":        client,
		"ClientCreated": created,
		"ClientPage":    page("Client"),
		"ClientInput":   obj{"type": "object", "description": "The fields of Client to set; id on create only."},
		"Rotate":        obj{"type": "object", "properties": obj{"overlap": obj{"type": "string", "description": "How long the old secret keeps working, e.g. 24h; 0s = not at all."}}},
		"Rotated":       object,
		"AuditPage":     page("AuditEvent"),
		"AuditEvent": obj{"type": "object", "required": []any{"time", "action", "outcome"}, "properties": obj{
			"seq": obj{"type": "integer"}, "time": obj{"type": "string", "format": "date-time"}, "actor": obj{"type": "string"},
			"action": obj{"type": "string"}, "target": obj{"type": "string"}, "source": obj{"type": "string"},
			"outcome": obj{"type": "string"}, "detail": obj{"type": "string"},
		}},
		"KeyPage": page("Object"),
		"Provider": obj{"type": "object", "required": []any{"id", "type"}, "properties": obj{"id": obj{"type": "string"}, "type": obj{"type": "string", "enum": []any{"cpi", "http"}}, "title": obj{"type": "string"}, "runtime": object, "api": object,
			"discovery": obj{"type": "object", "description": "present while a discovery runs", "properties": obj{"running": obj{"type": "object", "properties": obj{
				"provider": obj{"type": "string"}, "started_at": obj{"type": "string", "format": "date-time"}, "updated_at": obj{"type": "string", "format": "date-time"},
				"pages": obj{"type": "integer"}, "artifacts": obj{"type": "integer"}, "entry_points": obj{"type": "integer"}}}}}}},
		"ProviderPage": page("Provider"),
		"Flow": obj{"type": "object", "required": []any{"id", "provider", "status"}, "properties": obj{
			"id": obj{"type": "string"}, "provider": obj{"type": "string"}, "status": obj{"type": "string", "enum": []any{"enabled", "disabled", "unavailable"}},
			"title": obj{"type": "string"}, "address": obj{"type": "string"}, "url": obj{"type": "string"}, "policy": object,
		}},
		"FlowPage": page("Flow"),
		"DLQPage":  page("DLQEntry"),
		"DLQEntry": obj{"type": "object", "required": []any{"id", "kind", "client", "flow", "code"}, "properties": obj{
			"id": obj{"type": "string"}, "kind": obj{"type": "string", "enum": []any{"job", "callback"}}, "client": obj{"type": "string"},
			"flow": obj{"type": "string"}, "job_id": obj{"type": "string"}, "code": obj{"type": "string"}, "attempts": obj{"type": "integer"},
			"time": obj{"type": "string", "format": "date-time"},
		}},
		"TestReport": obj{"type": "object", "required": []any{"provider", "ok", "steps"}, "properties": obj{
			"provider": obj{"type": "string"}, "ok": obj{"type": "boolean"}, "summary": obj{"type": "string"},
			"steps": obj{"type": "array", "items": obj{"type": "object", "required": []any{"name", "ok"}, "properties": obj{
				"name": obj{"type": "string"}, "ok": obj{"type": "boolean"}, "detail": obj{"type": "string"}}}},
		}},
		"DiscoverResult": obj{"type": "object", "required": []any{"ok"}, "properties": obj{"ok": obj{"type": "boolean"}}},
	}
}
