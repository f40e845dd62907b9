package adminclient

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// Usage is the help text of `cpibroker admin`.
const Usage = `cpibroker admin — operator commands over the admin API

Usage:
  cpibroker admin clients create --id ID [--name N] [--roles partner,admin] [--grants f1,f2]
                                 [--callback-prefixes URL,...] [--disabled] [--json BODY|@FILE]
  cpibroker admin clients list [--limit N] [--cursor C]
  cpibroker admin clients get ID
  cpibroker admin clients patch ID [--name N] [--roles R] [--grants G] [--enabled=BOOL] [--json BODY|@FILE]
  cpibroker admin clients delete ID
  cpibroker admin clients rotate-secret ID [--overlap 24h]
  cpibroker admin clients rotate-webhook-secret ID [--overlap 24h]
  cpibroker admin providers create --id ID [--type cpi|http] [--title T] [--runtime-key KEY|@FILE]
                                 [--api-key KEY|@FILE] [--runtime-secret-env NAME] [--api-secret-env NAME]
                                 [--runtime-url URL] [--csrf=BOOL] [--auto-enable] [--discovery-interval 5m]
                                 [--json BODY|@FILE]
                                 (KEY: an SAP service key as downloaded, {"oauth":{…}} or flat)
  cpibroker admin providers list [--limit N] [--cursor C]
  cpibroker admin providers get|delete|test|discover ID
  cpibroker admin providers patch ID [the create flags but --id/--type]
  cpibroker admin flows list [--provider P] [--status enabled|disabled|unavailable] [--limit N] [--cursor C]
  cpibroker admin flows get ID
  cpibroker admin flows enable|disable ID
  cpibroker admin flows patch ID [--status S] [--title T] [--description D] [--policy JSON|@FILE]
  cpibroker admin keys list|rotate
  cpibroker admin audit [--actor ID] [--action A] [--since T] [--until T] [--limit N] [--cursor C]
  cpibroker admin dlq list [--client ID] [--flow ID] [--kind job|callback] [--code C] [--since T] [--until T]
  cpibroker admin dlq replay ID... | [--client ID] [--flow ID] [--kind job|callback] [--code C] [--since T] [--until T]
                                 (a failed job starts a new run, paced by the quotas; a dead
                                 webhook delivery goes back to its endpoint)
  cpibroker admin breakers list
  cpibroker admin breakers reset FLOW
  cpibroker admin sequences list [--state blocked|active] [--client ID] [--flow ID] [--limit N] [--cursor C]
  cpibroker admin sequences get ID
  cpibroker admin sequences skip ID     (a blocked key: its failed job stays failed, the next runs)
  cpibroker admin sequences replay ID   (a blocked key: its failed job runs again, first)

Every command takes:
  --url URL            the broker (default $CPIB_URL, the credentials file's base_url, or http://127.0.0.1:8080)
  --client-id ID       admin client ID (default $CPIB_ADMIN_CLIENT_ID)
  --client-secret S    admin client secret (default $CPIB_ADMIN_CLIENT_SECRET)
  --credentials FILE   read the admin credentials from a demo-credentials.json
                       (default ./data/demo-credentials.json when it exists and nothing else is given)

  -o table|json|yaml   output format (default: table at a terminal, JSON otherwise)

Secrets appear only in the answers of create and rotate, once. Exit codes:
0 done, 1 the operation failed or was refused (including a provider test
or discovery that reports "ok": false), 2 the command line is wrong.
`

// common are the connection flags of every command.
type common struct {
	url, id, secret, creds, output string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", "", "broker URL")
	fs.StringVar(&c.id, "client-id", "", "admin client ID")
	fs.StringVar(&c.secret, "client-secret", "", "admin client secret")
	fs.StringVar(&c.creds, "credentials", "", "demo-credentials.json to read admin credentials from")
	fs.StringVar(&c.output, "o", "", "output: table (default at a terminal), json (default otherwise) or yaml")
}

// client resolves the connection: flags, then environment, then the
// credentials file.
func (c common) client(getenv func(string) string) (*Client, error) {
	cl := &Client{BaseURL: c.url, ClientID: c.id, ClientSecret: c.secret}
	if cl.ClientID == "" {
		cl.ClientID = getenv("CPIB_ADMIN_CLIENT_ID")
	}
	if cl.ClientSecret == "" {
		cl.ClientSecret = getenv("CPIB_ADMIN_CLIENT_SECRET")
	}
	path := c.creds
	if path == "" && (cl.ClientID == "" || cl.ClientSecret == "") {
		if _, err := os.Stat("data/demo-credentials.json"); err == nil {
			path = "data/demo-credentials.json"
		}
	}
	if path != "" {
		f, err := readCredentials(path)
		if err != nil {
			return nil, err
		}
		if cl.ClientID == "" && cl.ClientSecret == "" {
			cl.ClientID, cl.ClientSecret = f.Admin.ClientID, f.Admin.ClientSecret
		}
		if cl.BaseURL == "" {
			cl.BaseURL = f.BaseURL
		}
	}
	if cl.BaseURL == "" {
		cl.BaseURL = getenv("CPIB_URL")
	}
	if cl.BaseURL == "" {
		cl.BaseURL = "http://127.0.0.1:8080"
	}
	return cl, nil
}

// Groups are the command groups of `cpibroker admin`, sorted.
func Groups() []string {
	var out []string
	for k := range commands {
		g, _, _ := strings.Cut(k, " ")
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}

// verbs are the commands of a group, sorted.
func verbs(group string) []string {
	var out []string
	for k := range commands {
		if g, v, _ := strings.Cut(k, " "); g == group && v != "" {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// Run executes `cpibroker admin <args>`, printing answers to stdout. Help
// (-h, --help, help) prints to stdout and is no error; a command line that
// cannot run is an error wrapping ErrUsage; a refused or failed operation
// (an API error, a provider test that failed) is any other error.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, Usage)
		return usageError("a command is missing")
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, Usage)
		return nil
	}
	resource, rest := args[0], args[1:]
	if !slices.Contains(Groups(), resource) {
		return usageError("unknown command %q; the admin commands are %s (cpibroker admin --help)", resource, strings.Join(Groups(), ", "))
	}
	verb := ""
	if resource != "audit" {
		if len(rest) == 0 || rest[0] == "-h" || rest[0] == "--help" || rest[0] == "help" {
			if len(rest) > 0 {
				groupUsage(stdout, resource)
				return nil
			}
			return usageError("admin %s: a command is missing; one of %s", resource, strings.Join(verbs(resource), ", "))
		}
		verb, rest = rest[0], rest[1:]
	}
	name := strings.TrimSpace(resource + " " + verb)
	cmd, ok := commands[resource+" "+verb]
	if !ok {
		return usageError("unknown command \"admin %s\"; the %s commands are %s", name, resource, strings.Join(verbs(resource), ", "))
	}
	fs := flag.NewFlagSet("admin "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var conn common
	conn.register(fs)
	build := cmd(fs)
	// Positional ID first or last: `clients get acme --url X` and
	// `clients get --url X acme` both work.
	var pos []string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		pos, rest = rest[:1], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			groupUsage(stdout, resource)
			fmt.Fprintf(stdout, "\nFlags of admin %s:\n", name)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return nil
		}
		return usageError("admin %s: %v (cpibroker admin %s -h)", name, err, name)
	}
	format := conn.output
	switch format {
	case "":
		format = defaultFormat(stdout)
	case FormatTable, FormatJSON, FormatYAML:
	default:
		return usageError("-o %q: the output formats are table, json and yaml", format)
	}
	pos = append(pos, fs.Args()...)
	method, path, body, err := build(pos)
	if err != nil {
		return usageError("admin %s: %v", name, err)
	}
	cl, err := conn.client(getenv)
	if err != nil {
		return err
	}
	out, err := cl.Do(ctx, method, path, body)
	if err != nil {
		return err
	}
	if err := render(stdout, format, resource+" "+verb, out); err != nil {
		return err
	}
	var w struct {
		Warnings []string `json:"warnings"`
	}
	if json.Unmarshal(out, &w) == nil {
		for _, msg := range w.Warnings {
			fmt.Fprintln(stderr, "warning:", msg)
		}
	}
	return outcome(resource+" "+verb, out)
}

// groupUsage prints the usage lines of one group.
func groupUsage(w io.Writer, group string) {
	for l := range strings.SplitSeq(Usage, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "cpibroker admin "+group) {
			fmt.Fprintln(w, l)
		}
	}
}

// ErrFailed is a 2xx answer that reports a failed operation (a provider
// test or discovery with "ok": false).
var ErrFailed = errors.New("operation failed")

// outcome turns an answer that reports a failure into an error, so the
// command exits non-zero.
func outcome(cmd string, b []byte) error {
	if cmd != "providers test" && cmd != "providers discover" {
		return nil
	}
	var r struct {
		OK      *bool  `json:"ok"`
		Summary string `json:"summary"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(b, &r) != nil || r.OK == nil || *r.OK {
		return nil
	}
	why := r.Summary
	if why == "" {
		why = r.Error
	}
	return fmt.Errorf("%w: %s: %s", ErrFailed, cmd, why)
}

// request is what a command sends.
type request func(pos []string) (method, path string, body []byte, err error)

// commands maps "resource verb" to a builder that registers the verb's
// flags and returns how to make the request.
var commands = map[string]func(fs *flag.FlagSet) request{
	"clients create":                createClient,
	"clients list":                  listClients,
	"clients get":                   byID("GET", ""),
	"clients delete":                byID("DELETE", ""),
	"clients patch":                 patchClient,
	"clients rotate-secret":         rotate("/rotate-secret"),
	"clients rotate-webhook-secret": rotate("/rotate-webhook-secret"),
	"keys list":                     fixed("GET", "/admin/v1/keys"),
	"keys rotate":                   fixed("POST", "/admin/v1/keys/rotate"),
	"audit ":                        listAudit,
	"dlq list":                      listDLQ,
	"dlq replay":                    replayDLQ,
	"breakers list":                 fixed("GET", "/admin/v1/breakers"),
	"breakers reset":                byIDAt("breakers", "POST", "/reset"),
	"sequences list":                listAt("sequences", "state", "client", "flow"),
	"sequences get":                 byIDAt("sequences", "GET", ""),
	"sequences skip":                byIDAt("sequences", "POST", "/skip"),
	"sequences replay":              byIDAt("sequences", "POST", "/replay"),
	"providers create":              createProvider,
	"providers list":                listAt("providers"),
	"providers get":                 byIDAt("providers", "GET", ""),
	"providers patch":               patchProvider,
	"providers delete":              byIDAt("providers", "DELETE", ""),
	"providers test":                byIDAt("providers", "POST", "/test"),
	"providers discover":            byIDAt("providers", "POST", "/discover"),
	"flows list":                    listAt("flows", "provider", "status"),
	"flows get":                     byIDAt("flows", "GET", ""),
	"flows patch":                   patchFlow,
	"flows enable":                  setFlowStatus("enabled"),
	"flows disable":                 setFlowStatus("disabled"),
}

func oneID(pos []string) (string, error) {
	if len(pos) != 1 {
		return "", errors.New("exactly one ID is expected")
	}
	return url.PathEscape(pos[0]), nil
}

func byID(method, suffix string) func(*flag.FlagSet) request {
	return byIDAt("clients", method, suffix)
}

// byIDAt is a command on /admin/v1/<resource>/<id><suffix> without a body.
func byIDAt(resource, method, suffix string) func(*flag.FlagSet) request {
	return func(*flag.FlagSet) request {
		return func(pos []string) (string, string, []byte, error) {
			id, err := oneID(pos)
			return method, "/admin/v1/" + resource + "/" + id + suffix, nil, err
		}
	}
}

func fixed(method, path string) func(*flag.FlagSet) request {
	return func(*flag.FlagSet) request {
		return func(pos []string) (string, string, []byte, error) {
			if len(pos) > 0 {
				return "", "", nil, fmt.Errorf("unexpected argument %q", pos[0])
			}
			return method, path, nil, nil
		}
	}
}

func rotate(suffix string) func(*flag.FlagSet) request {
	return func(fs *flag.FlagSet) request {
		overlap := fs.String("overlap", "", "how long the old secret keeps working (default 24h; 0s = not at all)")
		return func(pos []string) (string, string, []byte, error) {
			id, err := oneID(pos)
			var body []byte
			if *overlap != "" {
				if _, perr := time.ParseDuration(*overlap); perr != nil {
					return "", "", nil, fmt.Errorf("--overlap %q is not a duration like 24h, 30m or 0s", *overlap)
				}
				body, _ = json.Marshal(map[string]string{"overlap": *overlap})
			}
			return "POST", "/admin/v1/clients/" + id + suffix, body, err
		}
	}
}
