package e2e_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/devkit/cpisim"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

const guide = "../../docs/btp-guide.md"

// testedBlocks are the ```sh blocks the guide marks *(tested)*, in order.
func testedBlocks(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(guide)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	parts := strings.Split(string(b), "*(tested)*\n```sh\n")
	for _, p := range parts[1:] {
		end := strings.Index(p, "\n```\n")
		if end < 0 {
			t.Fatal("an unterminated tested block")
		}
		out = append(out, p[:end+1])
	}
	return out
}

// afterMarker is the fenced block that follows marker.
func afterMarker(t *testing.T, marker, fence string) string {
	t.Helper()
	b, _ := os.ReadFile(guide)
	s := string(b)
	i := strings.Index(s, marker+"\n"+fence+"\n")
	if i < 0 {
		t.Fatalf("the guide has no %s block after %q", fence, marker)
	}
	s = s[i+len(marker)+len(fence)+2:]
	return s[:strings.Index(s, "\n```\n")+1]
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "broker.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// serveCommand is the guide's `cpibroker serve` command line, split.
func serveCommand(t *testing.T) []string {
	t.Helper()
	b, _ := os.ReadFile(guide)
	s := string(b)
	i := strings.Index(s, "\ncpibroker serve ")
	if i < 0 {
		t.Fatal("the guide has no cpibroker serve command")
	}
	s = s[i+1:]
	var line strings.Builder
	for l := range strings.SplitSeq(s, "\n") {
		cont := strings.HasSuffix(l, "\\")
		line.WriteString(strings.TrimSuffix(l, "\\") + " ")
		if !cont {
			break
		}
	}
	return strings.Fields(line.String())[1:]
}

// The guide from service keys to a first job, run as written against the
// simulator behind keys of SAP's shape, the broker started with the
// guide's own serve command line (TLS, --public-url, --config with the
// guide's seed), its addresses and files replaced by the test's.
func TestBTPGuide(t *testing.T) {
	root := t.TempDir()
	bin := testkit.Binary(t)
	certFile, keyFile, pool := selfSigned(t, root)

	sim, err := cpisim.New(cpisim.Config{
		RuntimeClientID: "sb-4c1d2e!b1234|it-rt-acme-prod!b5678", RuntimeClientSecret: "6f0c-rt$Zm9vYmFy=",
		APIClientID: "sb-9a8b7c!b1234|it!b5678", APIClientSecret: "2e1d-api$YmF6cXV4=",
		Logger: testkit.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Deploy(cpisim.IFlow{ID: "Orders_Create", Name: "Orders Create", Address: "/orders/create"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	for file, id := range map[string][2]string{"rt-key.json": {"sb-4c1d2e!b1234|it-rt-acme-prod!b5678", "6f0c-rt$Zm9vYmFy="},
		"api-key.json": {"sb-9a8b7c!b1234|it!b5678", "2e1d-api$YmF6cXV4="}} {
		k := map[string]any{"oauth": map[string]string{"clientid": id[0], "clientsecret": id[1], "url": sim.URL(),
			"createdate": "2026-07-02T00:17:31.919Z", "tokenurl": sim.URL() + "/oauth/token"}}
		b, _ := json.MarshalIndent(k, "", "  ")
		if err := os.WriteFile(filepath.Join(root, file), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	blocks := testedBlocks(t)
	if len(blocks) != 3 {
		t.Fatalf("%d tested blocks, want 3", len(blocks))
	}
	envFile := filepath.Join(root, "env.txt")
	runScript(t, root, blocks[0]+"env > "+envFile+"\n")
	env := map[string]string{}
	b, _ := os.ReadFile(envFile)
	for l := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && (strings.HasPrefix(k, "CPI_") || k == "ADMIN_SECRET") {
			env[k] = v
		}
	}
	if env["CPI_RT_CLIENT_SECRET"] != "6f0c-rt$Zm9vYmFy=" || env["CPI_API_URL"] != sim.URL() || env["ADMIN_SECRET"] == "" {
		t.Fatalf("the keys' fields: %v", env)
	}
	if err := os.WriteFile(filepath.Join(root, "seed.yaml"), []byte(afterMarker(t, "<!-- seed.yaml -->", "```yaml")), 0o600); err != nil {
		t.Fatal(err)
	}

	// The guide's serve command, on the test's addresses and files.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	_ = ln.Close()
	broker := "https://127.0.0.1:" + port
	args := serveCommand(t)
	repl := map[string]string{
		"/var/lib/cpibroker": filepath.Join(root, "data"), "0.0.0.0:8443": "127.0.0.1:" + port,
		"https://broker.example.com:8443": broker, "/etc/cpibroker/tls/tls.crt": certFile,
		"/etc/cpibroker/tls/tls.key": keyFile,
	}
	for i, a := range args {
		if v, ok := repl[a]; ok {
			args[i] = v
			delete(repl, a)
		}
	}
	if len(repl) > 0 {
		t.Fatalf("the guide's serve command no longer has %v: %q", repl, args)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = root
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	testkit.Eventually(t, 60*time.Second, "the guide's broker ready over TLS", func() bool {
		resp, err := client.Get(broker + "/.well-known/oauth-authorization-server")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var md struct {
			Issuer string `json:"issuer"`
		}
		return resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&md) == nil && md.Issuer == broker
	})

	script := "set -x\nexport BROKER=" + broker + " ADMIN_SECRET='" + env["ADMIN_SECRET"] + "'\n" +
		"export PATH=" + filepath.Dir(bin) + ":$PATH SSL_CERT_FILE=" + certFile + " CURL_CA_BUNDLE=" + certFile + "\n" +
		blocks[1] + blocks[2]
	got := runScript(t, root, script)
	for _, want := range []string{`"ok": true`, `"provider": "tenant"`, "tenant-orders-create", `"status":"succeeded"`, "Job-Status: succeeded", `<order id="4711"/>`} {
		if !strings.Contains(got, want) {
			t.Errorf("the guide's output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s\nbroker:\n%s", got, out.String())
	}
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
