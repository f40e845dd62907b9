package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/devkit/bench"
	"github.com/cpibroker/cpibroker/devkit/localcluster"
	"github.com/nats-io/nats-server/v2/server"
	"gopkg.in/yaml.v3"
)

const deployDir = "../../deploy"

// checkArgs parses a cpibroker command line (subcommand first) with the
// binary's own flag sets: an unknown flag or a bad value is an error.
func checkArgs(args []string) error {
	if len(args) == 0 {
		return errors.New("no subcommand")
	}
	var fs *flag.FlagSet
	switch sub := args[0]; sub {
	case "serve", "ingress", "dispatcher":
		r := map[string]role{"serve": roleAll, "ingress": roleIngress, "dispatcher": roleDispatcher}[sub]
		fs = flag.NewFlagSet(sub, flag.ContinueOnError)
		var f serveFlags
		f.register(fs, r)
	case "cpisim":
		fs, _ = cpisimFlags()
	case "cluster":
		fs, _ = clusterFlags()
	case "bench":
		_, err := bench.ParseArgs(args[1:], io.Discard)
		return err
	default:
		return fmt.Errorf("unknown subcommand %q", sub)
	}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: stray arguments %q", args[0], fs.Args())
	}
	return nil
}

func TestCheckArgs(t *testing.T) {
	for _, ok := range [][]string{
		{"ingress", "--nats-url", "nats://a:4222", "--replicas=3"},
		{"dispatcher", "--admin-listen", ":9090", "--ack-wait=2s"},
		{"cpisim", "--listen", "0.0.0.0:8081"},
		{"bench", "--duration", "1s"},
	} {
		if err := checkArgs(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range [][]string{
		{"ingress", "--no-such-flag"},
		{"dispatcher", "--ack-wait=soon"},
		{"cpisim", "--replicas", "3"},
		{"frobnicate"},
		{"ingress", "stray"},
		{"dispatcher", "--listen", ":8080"},        // an ingress flag
		{"ingress", "--dispatch-concurrency", "8"}, // a dispatcher flag
		{"ingress", "--fsync", "always"},           // embedded server only
	} {
		if err := checkArgs(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestDeployFiles parses every file under deploy/ with the parser its
// consumer uses (the NATS server's own config parser, YAML for Kubernetes,
// Helm, compose and the collector), checks the fields each needs, and checks
// every cpibroker command line in them against the binary's flag sets. A
// file the test does not know fails it, so nothing in deploy/ goes
// unchecked.
func TestDeployFiles(t *testing.T) {
	checkers := map[string]func(*testing.T, string){
		"nats/n1.conf": checkLocalNATS, "nats/n2.conf": checkLocalNATS, "nats/n3.conf": checkLocalNATS,
		"nats/compose.conf":             checkComposeNATS,
		"compose.yaml":                  checkCompose,
		"Dockerfile":                    checkDockerfile,
		"otel/collector.yaml":           checkCollector,
		"helm/nats-values.yaml":         checkHelmValues,
		"k8s/kustomization.yaml":        checkKustomization,
		"k8s/config.yaml":               checkK8s,
		"k8s/ingress.yaml":              checkK8s,
		"k8s/dispatcher.yaml":           checkK8s,
		"local/seed.yaml":               checkSeedYAML,
		"k8s/otel/kustomization.yaml":   checkKustomization,
		"k8s/otel/collector.yaml":       checkK8sCollector,
		"k8s/single/kustomization.yaml": checkKustomization,
		"k8s/single/config.yaml":        checkSingleSeed,
		"k8s/single/serve.yaml":         checkSingleServe,
	}
	seen := map[string]bool{}
	err := filepath.WalkDir(deployDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(deployDir, path)
		rel = filepath.ToSlash(rel)
		check, ok := checkers[rel]
		if !ok {
			t.Errorf("deploy/%s: no check for this file; add one to TestDeployFiles", rel)
			return nil
		}
		seen[rel] = true
		t.Run(rel, func(t *testing.T) { check(t, path) })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for rel := range checkers {
		if !seen[rel] {
			t.Errorf("deploy/%s is missing", rel)
		}
	}
	local := map[string]bool{}
	for i := 1; i <= 3; i++ {
		o, err := server.ProcessConfigFile(filepath.Join(deployDir, fmt.Sprintf("nats/n%d.conf", i)))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{o.ServerName, fmt.Sprint(o.Port), fmt.Sprint(o.Cluster.Port), fmt.Sprint(o.HTTPPort), o.StoreDir} {
			if local[k] {
				t.Errorf("nats/n%d.conf repeats %q of another node", i, k)
			}
			local[k] = true
		}
	}
}

func natsConf(t *testing.T, path string) *server.Options {
	t.Helper()
	o, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats-server cannot parse it: %v", err)
	}
	if o.ServerName == "" || !o.JetStream || o.StoreDir == "" {
		t.Errorf("server_name %q, jetstream %v, store_dir %q: all required", o.ServerName, o.JetStream, o.StoreDir)
	}
	if o.Cluster.Name == "" || o.Cluster.Port == 0 || len(o.Routes) != 3 {
		t.Errorf("cluster name %q port %d routes %d: a named cluster routing to 3 nodes required", o.Cluster.Name, o.Cluster.Port, len(o.Routes))
	}
	// An unquoted `sync_interval: 2m` parses as 2 000 000 (a size suffix),
	// read as seconds: about 23 days without fsync. Quote durations.
	if o.SyncInterval != 0 && (o.SyncInterval < time.Second || o.SyncInterval > 10*time.Minute) {
		t.Errorf("sync_interval %s: quote the duration (\"2m\")", o.SyncInterval)
	}
	if o.MaxPayload < 1<<20 {
		t.Errorf("max_payload %d below the 1 MiB cpibroker writes", o.MaxPayload)
	}
	return o
}

func checkLocalNATS(t *testing.T, path string) {
	o := natsConf(t, path)
	if o.Host != "127.0.0.1" || o.Cluster.Host != "127.0.0.1" {
		t.Errorf("the local cluster listens on loopback only, got %s and %s", o.Host, o.Cluster.Host)
	}
	for _, r := range o.Routes {
		if r.Hostname() != "127.0.0.1" {
			t.Errorf("route %s is not on loopback", r)
		}
	}
}

func checkComposeNATS(t *testing.T, path string) {
	t.Setenv("NATS_SERVER_NAME", "nats-1")
	o := natsConf(t, path)
	if o.ServerName != "nats-1" {
		t.Errorf("server_name %q, want it from NATS_SERVER_NAME", o.ServerName)
	}
}

func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("YAML: %v", err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
}

// dig follows keys (map keys, or list indexes as ints) into a YAML tree.
func dig(v any, keys ...any) any {
	for _, k := range keys {
		switch c := v.(type) {
		case map[string]any:
			v = c[fmt.Sprint(k)]
		case []any:
			i, ok := k.(int)
			if !ok || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

func strs(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

// checkNATSURL wants --nats-url to name three servers.
func checkNATSURL(t *testing.T, where string, args []string) {
	t.Helper()
	for i, a := range args {
		v, ok := strings.CutPrefix(a, "--nats-url=")
		if !ok && a == "--nats-url" && i+1 < len(args) {
			v, ok = args[i+1], true
		}
		if ok {
			if n := len(strings.Split(v, ",")); n != 3 {
				t.Errorf("%s: --nats-url names %d servers, want all 3", where, n)
			}
			return
		}
	}
	if args[0] == "ingress" || args[0] == "dispatcher" {
		t.Errorf("%s: %s without --nats-url", where, args[0])
	}
}

func checkCompose(t *testing.T, path string) {
	d := yamlDocs(t, path)[0]
	services, _ := d["services"].(map[string]any)
	roles := map[string]int{}
	for name, s := range services {
		image, _ := dig(s, "image").(string)
		if image == "" {
			t.Errorf("service %s has no image", name)
		}
		for _, v := range strs(dig(s, "volumes")) {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join(filepath.Dir(path), src)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			}
		}
		if image != "cpibroker:local" {
			roles[strings.Split(image, ":")[0]]++
			continue
		}
		args := strs(dig(s, "command"))
		if len(args) == 0 {
			t.Errorf("service %s runs cpibroker without a command", name)
			continue
		}
		roles[args[0]]++
		if err := checkArgs(args); err != nil {
			t.Errorf("service %s: %v", name, err)
		}
		checkNATSURL(t, "service "+name, args)
	}
	for role, want := range map[string]int{"nats": 3, "ingress": 2, "dispatcher": 2, "cpisim": 1, "otel/opentelemetry-collector-contrib": 1} {
		if roles[role] < want {
			t.Errorf("%d %s services, want %d", roles[role], role, want)
		}
	}
	if b := dig(services, "cpisim", "build", "dockerfile"); b != "deploy/Dockerfile" {
		t.Errorf("the cpibroker image is built from %v, want deploy/Dockerfile", b)
	}
}

func checkDockerfile(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"FROM golang:1.26", "./cmd/cpibroker", "ENTRYPOINT [\"/cpibroker\"]", "USER nonroot"} {
		if !strings.Contains(s, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

func checkCollector(t *testing.T, path string) {
	checkCollectorConfig(t, yamlDocs(t, path)[0])
}

func checkCollectorConfig(t *testing.T, d map[string]any) {
	if dig(d, "receivers", "otlp", "protocols", "grpc") == nil || dig(d, "receivers", "otlp", "protocols", "http") == nil {
		t.Error("an OTLP receiver over gRPC and HTTP is required")
	}
	pipelines, _ := dig(d, "service", "pipelines").(map[string]any)
	for _, p := range []string{"traces", "metrics"} {
		if pipelines[p] == nil {
			t.Errorf("no %s pipeline", p)
		}
	}
	for name, p := range pipelines {
		for _, kind := range []string{"receivers", "processors", "exporters"} {
			for _, c := range strs(dig(p, kind)) {
				if dig(d, kind, c) == nil && !(kind == "processors" && c == "batch") {
					t.Errorf("pipeline %s uses %s %q, which is not defined", name, kind, c)
				}
			}
		}
		if len(strs(dig(p, "receivers"))) == 0 || len(strs(dig(p, "exporters"))) == 0 {
			t.Errorf("pipeline %s needs receivers and exporters", name)
		}
	}
}

func checkHelmValues(t *testing.T, path string) {
	d := yamlDocs(t, path)[0]
	for _, c := range []struct {
		keys []any
		want any
	}{
		{[]any{"config", "cluster", "enabled"}, true},
		{[]any{"config", "cluster", "replicas"}, 3},
		{[]any{"config", "jetstream", "enabled"}, true},
		{[]any{"config", "jetstream", "fileStore", "enabled"}, true},
		{[]any{"config", "jetstream", "fileStore", "pvc", "enabled"}, true},
		{[]any{"podDisruptionBudget", "enabled"}, true},
	} {
		if got := dig(d, c.keys...); got != c.want {
			t.Errorf("%v = %v, want %v", c.keys, got, c.want)
		}
	}
	if tag, _ := dig(d, "container", "image", "tag").(string); !strings.HasPrefix(tag, "2.1") || tag < "2.12" {
		t.Errorf("image tag %q: cpibroker needs nats-server 2.12 or later", tag)
	}
}

func checkKustomization(t *testing.T, path string) {
	d := yamlDocs(t, path)[0]
	res := strs(d["resources"])
	if len(res) == 0 {
		t.Fatal("no resources")
	}
	for _, r := range res {
		if _, err := os.Stat(filepath.Join(filepath.Dir(path), r)); err != nil {
			t.Errorf("resource %s: %v", r, err)
		}
	}
}

func checkSeedYAML(t *testing.T, path string) {
	// Parsed for real, with its environment, by TestProcesses in
	// devkit/faults; here: valid YAML naming providers and clients.
	d := yamlDocs(t, path)[0]
	if len(strs(d["providers"])) == 0 || len(strs(d["clients"])) == 0 {
		t.Error("the local seed needs providers and clients")
	}
}

// checkK8s checks a manifest file; across all k8s files together,
// TestK8sManifests checks the references between objects.
func checkK8s(t *testing.T, path string) {
	for i, d := range yamlDocs(t, path) {
		if dig(d, "apiVersion") == nil || dig(d, "kind") == nil || dig(d, "metadata", "name") == nil {
			t.Errorf("document %d lacks apiVersion, kind or metadata.name", i)
		}
		if d["kind"] == "Deployment" && dig(d, "spec", "template", "spec", "containers", 0, "image") == "cpibroker" {
			checkDeployment(t, d)
		}
	}
}

func checkDeployment(t *testing.T, d map[string]any) {
	name := dig(d, "metadata", "name")
	sel, _ := dig(d, "spec", "selector", "matchLabels").(map[string]any)
	labels, _ := dig(d, "spec", "template", "metadata", "labels").(map[string]any)
	if len(sel) == 0 || !subset(sel, labels) {
		t.Errorf("%s: selector %v does not match the pod labels %v", name, sel, labels)
	}
	containers, _ := dig(d, "spec", "template", "spec", "containers").([]any)
	if len(containers) == 0 {
		t.Fatalf("%s: no containers", name)
	}
	for _, c := range containers {
		if dig(c, "image") == nil || dig(c, "resources", "requests") == nil {
			t.Errorf("%s: container without image or resource requests", name)
		}
		var ports []string
		for _, p := range dig(c, "ports").([]any) {
			ports = append(ports, fmt.Sprint(dig(p, "name")))
		}
		for _, probe := range []string{"readinessProbe", "livenessProbe"} {
			path, port := dig(c, probe, "httpGet", "path"), fmt.Sprint(dig(c, probe, "httpGet", "port"))
			if path != "/readyz" && path != "/healthz" {
				t.Errorf("%s: %s path %v, want /readyz or /healthz", name, probe, path)
			}
			if !slices.Contains(ports, port) {
				t.Errorf("%s: %s port %s is not a container port %v", name, probe, port, ports)
			}
		}
		if dig(c, "image") == "cpibroker" {
			args := strs(dig(c, "args"))
			if err := checkArgs(args); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			checkNATSURL(t, fmt.Sprint(name), args)
			for _, a := range args {
				if p, ok := strings.CutPrefix(a, "--admin-listen="); ok && !strings.HasSuffix(p, ":9090") {
					t.Errorf("%s: --admin-listen %s, but the admin port is 9090", name, p)
				}
			}
		}
	}
}

func subset(sel, labels map[string]any) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestK8sManifests checks what the objects say about each other: both
// roles have a Deployment, and every Service, HPA and PDB points at one.
func TestK8sManifests(t *testing.T) {
	var docs []map[string]any
	for _, f := range []string{"config.yaml", "ingress.yaml", "dispatcher.yaml"} {
		docs = append(docs, yamlDocs(t, filepath.Join(deployDir, "k8s", f))...)
	}
	deployments := map[string]map[string]any{}
	kinds := map[string]int{}
	for _, d := range docs {
		kinds[fmt.Sprint(d["kind"])]++
		if d["kind"] == "Deployment" {
			labels, _ := dig(d, "spec", "template", "metadata", "labels").(map[string]any)
			deployments[fmt.Sprint(dig(d, "metadata", "name"))] = labels
		}
	}
	for _, name := range []string{"cpibroker-ingress", "cpibroker-dispatcher"} {
		if deployments[name] == nil {
			t.Errorf("no Deployment %s", name)
		}
	}
	for kind, want := range map[string]int{"Service": 2, "HorizontalPodAutoscaler": 2, "PodDisruptionBudget": 2, "ConfigMap": 1, "Secret": 1} {
		if kinds[kind] < want {
			t.Errorf("%d %s objects, want at least %d", kinds[kind], kind, want)
		}
	}
	matches := func(sel map[string]any) bool {
		for _, labels := range deployments {
			if len(sel) > 0 && subset(sel, labels) {
				return true
			}
		}
		return false
	}
	for _, d := range docs {
		name := dig(d, "metadata", "name")
		switch d["kind"] {
		case "Service":
			if sel, _ := dig(d, "spec", "selector").(map[string]any); !matches(sel) {
				t.Errorf("Service %s selects no Deployment's pods", name)
			}
		case "PodDisruptionBudget":
			if sel, _ := dig(d, "spec", "selector", "matchLabels").(map[string]any); !matches(sel) {
				t.Errorf("PDB %s selects no Deployment's pods", name)
			}
		case "HorizontalPodAutoscaler":
			ref := fmt.Sprint(dig(d, "spec", "scaleTargetRef", "name"))
			if dig(d, "spec", "scaleTargetRef", "kind") != "Deployment" || deployments[ref] == nil {
				t.Errorf("HPA %s scales %s, which is not a Deployment here", name, ref)
			}
			if dig(d, "spec", "minReplicas") == nil || dig(d, "spec", "maxReplicas") == nil {
				t.Errorf("HPA %s lacks min/maxReplicas", name)
			}
		}
	}
}

// TestLocalClusterCommands: the processes `task cluster` starts take flags
// the binaries have (nats-server gets a config file of deploy/).
func TestLocalClusterCommands(t *testing.T) {
	cmds := localcluster.Commands(localcluster.Config{CPIBroker: "cpibroker", NATSServer: "nats-server", DeployDir: deployDir})
	roles := map[string]int{}
	for _, c := range cmds {
		if c[0] == "nats-server" {
			roles["nats"]++
			natsConf(t, c[2])
			continue
		}
		roles[c[1]]++
		if err := checkArgs(c[1:]); err != nil {
			t.Errorf("%q: %v", c, err)
		}
		checkNATSURL(t, c[1], c[1:])
	}
	if roles["nats"] != 3 || roles["ingress"] != 2 || roles["dispatcher"] != 2 || roles["cpisim"] != 1 {
		t.Errorf("processes %v, want 3 NATS, 2 ingress, 2 dispatcher, 1 simulator", roles)
	}
}

var tmpl = regexp.MustCompile(`\{\{[^}]*\}\}`)

// TestTaskfileCommands: the cpibroker command lines of Taskfile.yml take
// flags the binary has (template arguments such as {{.CLI_ARGS}} left out).
func TestTaskfileCommands(t *testing.T) {
	d := yamlDocs(t, "../../Taskfile.yml")[0]
	tasks, _ := d["tasks"].(map[string]any)
	n := 0
	for name, task := range tasks {
		for _, c := range strs(dig(task, "cmds")) {
			c = tmpl.ReplaceAllStringFunc(c, func(m string) string {
				if strings.Contains(m, "CLI_ARGS") {
					return ""
				}
				return "60s" // a templated value, such as {{.CHAOS | default "60s"}}
			})
			fields := strings.Fields(c)
			i := slices.IndexFunc(fields, func(f string) bool {
				return f == "bin/cpibroker" || f == "./cmd/cpibroker"
			})
			if i < 0 || i+1 >= len(fields) || (i > 0 && fields[i-1] == "-o") {
				continue
			}
			args := fields[i+1:]
			n++
			if err := checkArgs(args); err != nil {
				t.Errorf("task %s: %q: %v", name, c, err)
			}
		}
	}
	if n < 3 {
		t.Errorf("%d cpibroker command lines found in Taskfile.yml, want the run, bench and cluster tasks", n)
	}
}

// checkK8sCollector: the collector's config is a valid pipeline set, and
// its Service takes OTLP/HTTP on 4318, where every cpibroker manifest
// sends its traces.
func checkK8sCollector(t *testing.T, path string) {
	checkK8s(t, path)
	var svcPorts []string
	for _, d := range yamlDocs(t, path) {
		switch {
		case d["kind"] == "ConfigMap":
			var cfg map[string]any
			if err := yaml.Unmarshal([]byte(fmt.Sprint(dig(d, "data", "config.yaml"))), &cfg); err != nil {
				t.Fatalf("collector config: %v", err)
			}
			checkCollectorConfig(t, cfg)
		case d["kind"] == "Service" && dig(d, "metadata", "name") == "otel-collector":
			for _, p := range dig(d, "spec", "ports").([]any) {
				svcPorts = append(svcPorts, fmt.Sprint(dig(p, "port")))
			}
		}
	}
	if !slices.Contains(svcPorts, "4318") {
		t.Errorf("Service otel-collector ports %v lack 4318", svcPorts)
	}
	for _, f := range []string{"k8s/ingress.yaml", "k8s/dispatcher.yaml", "k8s/single/serve.yaml"} {
		b, _ := os.ReadFile(filepath.Join(deployDir, f))
		if !strings.Contains(string(b), `OTEL_EXPORTER_OTLP_ENDPOINT, value: "http://otel-collector:4318"`) {
			t.Errorf("%s does not send its traces to the otel-collector Service", f)
		}
	}
}

// checkSingleSeed: the ConfigMap's seed is the guide's, and it parses
// with every ${NAME} set.
func checkSingleSeed(t *testing.T, path string) {
	checkK8s(t, path)
	seed := fmt.Sprint(dig(yamlDocs(t, path)[0], "data", "seed.yaml"))
	g, err := os.ReadFile("../../docs/btp-guide.md")
	if err != nil {
		t.Fatal(err)
	}
	guide := string(g)
	i := strings.Index(guide, "<!-- seed.yaml -->\n```yaml\n")
	if i < 0 {
		t.Fatal("the guide has no seed block")
	}
	guide = guide[i+len("<!-- seed.yaml -->\n```yaml\n"):]
	if want := guide[:strings.Index(guide, "\n```\n")+1]; seed != want {
		t.Errorf("deploy/k8s/single/config.yaml's seed differs from the guide's:\n%s\n---\n%s", seed, want)
	}
	sd, err := catalog.ParseSeed([]byte(seed), func(k string) (string, bool) {
		if strings.HasSuffix(k, "_URL") {
			return "https://tenant.it-cpi001.cfapps.eu10.hana.ondemand.com", true
		}
		return "x-" + strings.ToLower(k), true
	})
	if err != nil || len(sd.Providers) != 1 || len(sd.Clients) != 1 {
		t.Fatalf("seed: %v %+v", err, sd)
	}
}

// checkSingleServe: one serve pod whose data dir is a PersistentVolumeClaim
// (never an emptyDir), with flags the binary takes and probes on its port.
func checkSingleServe(t *testing.T, path string) {
	checkK8s(t, path)
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "emptyDir") {
		t.Error("an emptyDir: the store must be on a persistent volume")
	}
	var sts map[string]any
	for _, d := range yamlDocs(t, path) {
		if d["kind"] == "StatefulSet" {
			sts = d
		}
	}
	if sts == nil {
		t.Fatal("no StatefulSet")
	}
	if r := dig(sts, "spec", "replicas"); r != 1 {
		t.Errorf("replicas %v: one process owns the data dir", r)
	}
	claim := fmt.Sprint(dig(sts, "spec", "volumeClaimTemplates", 0, "metadata", "name"))
	c := dig(sts, "spec", "template", "spec", "containers", 0)
	args := strs(dig(c, "args"))
	if err := checkArgs(args); err != nil {
		t.Error(err)
	}
	dataDir := ""
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--data-dir="); ok {
			dataDir = v
		}
	}
	mounted := false
	for _, m := range dig(c, "volumeMounts").([]any) {
		if dig(m, "name") == claim && dig(m, "mountPath") == dataDir {
			mounted = true
		}
	}
	if claim == "<nil>" || dataDir == "" || !mounted {
		t.Errorf("--data-dir %q is not the claim %q's mount", dataDir, claim)
	}
	for _, probe := range []string{"readinessProbe", "livenessProbe"} {
		if p := dig(c, probe, "httpGet", "path"); p != "/readyz" && p != "/healthz" {
			t.Errorf("%s path %v", probe, p)
		}
	}
}
