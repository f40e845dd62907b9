package portal

import (
	"strings"
	"text/template"
)

// Snippet is one copy-paste example.
type Snippet struct {
	ID, Title, Lang, Code string
}

// snippetData fills the snippets.
type snippetData struct {
	Base, Client, Flow string
}

var snippetTmpl = template.Must(template.New("s").Parse(`
{{define "curl-token"}}export CPIB_CLIENT_SECRET='…'   # shown once when your client was created
TOKEN=$(curl -s -u '{{.Client}}:'"$CPIB_CLIENT_SECRET" -d grant_type=client_credentials \
  {{.Base}}/oauth/token | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'){{end}}
{{define "curl-submit"}}curl -si -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -H 'Idempotency-Key: order-42' -d '{"order":42}' {{.Base}}/v1/flows/{{.Flow}}/jobs
# 202 Accepted, Location: /v1/jobs/<id>{{end}}
{{define "curl-poll"}}curl -s -H "Authorization: Bearer $TOKEN" '{{.Base}}/v1/jobs/<id>?wait=30s'
curl -s -H "Authorization: Bearer $TOKEN" {{.Base}}/v1/jobs/<id>/result{{end}}
{{define "python"}}import base64, json, os, time, urllib.parse, urllib.request

BASE = "{{.Base}}"
cred = base64.b64encode(("{{.Client}}:" + os.environ["CPIB_CLIENT_SECRET"]).encode()).decode()
req = urllib.request.Request(BASE + "/oauth/token", data=b"grant_type=client_credentials",
                             headers={"Authorization": "Basic " + cred})
token = json.load(urllib.request.urlopen(req))["access_token"]
auth = {"Authorization": "Bearer " + token}

req = urllib.request.Request(BASE + "/v1/flows/{{.Flow}}/jobs", data=json.dumps({"order": 42}).encode(),
                             headers={**auth, "Content-Type": "application/json", "Idempotency-Key": "order-42"})
job = json.load(urllib.request.urlopen(req))

while job["status"] in ("queued", "running"):  # long-poll until the job ends
    job = json.load(urllib.request.urlopen(urllib.request.Request(
        BASE + "/v1/jobs/" + job["id"] + "?wait=30s", headers=auth)))
print(job["status"])
if "result" in job:
    print(urllib.request.urlopen(urllib.request.Request(BASE + job["result"]["url"], headers=auth)).read()){{end}}
{{define "javascript"}}// Node 18+ or a browser (fetch).
const BASE = "{{.Base}}";
const basic = btoa("{{.Client}}:" + process.env.CPIB_CLIENT_SECRET);
const { access_token } = await (await fetch(BASE + "/oauth/token", {
  method: "POST", body: "grant_type=client_credentials",
  headers: { Authorization: "Basic " + basic, "Content-Type": "application/x-www-form-urlencoded" },
})).json();
const auth = { Authorization: "Bearer " + access_token };

let job = await (await fetch(BASE + "/v1/flows/{{.Flow}}/jobs", {
  method: "POST", body: JSON.stringify({ order: 42 }),
  headers: { ...auth, "Content-Type": "application/json", "Idempotency-Key": "order-42" },
})).json();
while (job.status === "queued" || job.status === "running") {
  job = await (await fetch(BASE + "/v1/jobs/" + job.id + "?wait=30s", { headers: auth })).json();
}
console.log(job.status, job.result && await (await fetch(BASE + job.result.url, { headers: auth })).text());{{end}}
{{define "verify-python"}}import base64, hashlib, hmac, time

def verify(secret: str, headers: dict, body: bytes, tolerance=300) -> bool:
    """Standard Webhooks v1: HMAC-SHA256 over "id.timestamp.body" with the whsec_ secret."""
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(ts)) > tolerance:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
    # During a secret rotation several signatures are sent, space-separated.
    return any(hmac.compare_digest("v1," + mac, s) for s in headers["webhook-signature"].split()){{end}}
{{define "verify-javascript"}}// Node: import { createHmac, timingSafeEqual } from "node:crypto";
function verify(secret, headers, rawBody, toleranceS = 300) {
  const id = headers["webhook-id"], ts = headers["webhook-timestamp"];
  if (Math.abs(Date.now() / 1000 - Number(ts)) > toleranceS) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const mac = "v1," + createHmac("sha256", key).update(id + "." + ts + "." + rawBody).digest("base64");
  return headers["webhook-signature"].split(" ").some(
    (s) => s.length === mac.length && timingSafeEqual(Buffer.from(s), Buffer.from(mac)));
}{{end}}
`))

// snippets returns the examples for a client and flow.
func snippets(base, client, flow string) []Snippet {
	d := snippetData{Base: strings.TrimRight(base, "/"), Client: client, Flow: flow}
	out := []Snippet{
		{"curl-token", "Get a token (curl)", "shell", ""},
		{"curl-submit", "Submit a job (curl)", "shell", ""},
		{"curl-poll", "Poll for the result (curl)", "shell", ""},
		{"python", "Token, submit and poll (Python standard library)", "python", ""},
		{"javascript", "Token, submit and poll (JavaScript)", "javascript", ""},
		{"verify-python", "Verify a webhook signature (Python)", "python", ""},
		{"verify-javascript", "Verify a webhook signature (JavaScript)", "javascript", ""},
	}
	for i := range out {
		var b strings.Builder
		if err := snippetTmpl.ExecuteTemplate(&b, out[i].ID, d); err == nil {
			out[i].Code = b.String()
		}
	}
	return out
}
