package ingress_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/broker"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

// selfSigned writes a certificate for 127.0.0.1 and its key to dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cpibroker test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// httpsCall is one request over the test's TLS client.
func httpsCall(t *testing.T, c *http.Client, method, u, token string, body io.Reader, h http.Header) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func tlsToken(t *testing.T, c *http.Client, base, id, secret string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
	st, _, b := httpsCall(t, c, http.MethodPost, base+"/oauth/token", "", strings.NewReader(form.Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Forwarded-For": {"203.0.113.7"}})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if st != 200 || json.Unmarshal(b, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("token over TLS: %d %s", st, b)
	}
	return tok.AccessToken
}

// --tls-cert/--tls-key serve HTTPS (on both listeners); --admin-listen
// moves /admin/v1 and /metrics off the partner listener; headers are
// bounded; X-Forwarded-For of an untrusted peer is not believed.
func TestTLSAdminListenerAndHygiene(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	sys := testkit.Start(t, testkit.Options{Configure: func(c *broker.Config) {
		c.IngressConfig.TLSCert, c.IngressConfig.TLSKey = certFile, keyFile
		c.IngressConfig.AdminListen = "127.0.0.1:0"
	}})
	base, adminBase := sys.BaseURL, sys.Broker.AdminURL()
	if !strings.HasPrefix(base, "https://") || !strings.HasPrefix(adminBase, "https://") {
		t.Fatalf("URLs %s %s", base, adminBase)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	t.Cleanup(c.CloseIdleConnections)

	// Plain HTTP on the TLS port is refused by the server.
	if resp, err := http.Get("http://" + strings.TrimPrefix(base, "https://") + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP on the TLS port: %d", resp.StatusCode)
		}
	}
	tok := tlsToken(t, c, base, sys.Creds.Partner.ClientID, sys.Creds.Partner.ClientSecret)
	st, h, b := httpsCall(t, c, http.MethodPost, base+"/v1/flows/demo-echo/jobs", tok, strings.NewReader("tls"), http.Header{"Content-Type": {"text/plain"}})
	if st != 202 {
		t.Fatalf("submit over TLS: %d %s", st, b)
	}
	if st, _, b = httpsCall(t, c, http.MethodGet, base+h.Get("Location")+"?wait=20s", tok, nil, nil); st != 200 || !strings.Contains(string(b), `"succeeded"`) {
		t.Fatalf("job over TLS: %d %s", st, b)
	}

	// The partner listener serves neither /metrics nor /admin; probes yes.
	if st, _, _ := httpsCall(t, c, http.MethodGet, base+"/metrics", "", nil, nil); st != 404 {
		t.Fatalf("/metrics on the partner listener: %d", st)
	}
	atok := tlsToken(t, c, base, sys.Creds.Admin.ClientID, sys.Creds.Admin.ClientSecret)
	if st, _, _ := httpsCall(t, c, http.MethodGet, base+"/admin/v1/clients", atok, nil, nil); st != 404 {
		t.Fatalf("/admin on the partner listener: %d", st)
	}
	for _, u := range []string{base + "/healthz", base + "/readyz", adminBase + "/healthz", adminBase + "/readyz"} {
		if st, _, b := httpsCall(t, c, http.MethodGet, u, "", nil, nil); st != 200 {
			t.Fatalf("%s: %d %s", u, st, b)
		}
	}
	if st, _, b := httpsCall(t, c, http.MethodGet, adminBase+"/metrics", "", nil, nil); st != 200 || !strings.Contains(string(b), `cpibroker_jobs_accepted_total{client="demo-partner",flow="demo-echo"} 1`) {
		t.Fatalf("/metrics on the admin listener: %d %s", st, b)
	}
	st, _, b = httpsCall(t, c, http.MethodGet, adminBase+"/admin/v1/audit?action=token.issued", atok, nil, nil)
	if st != 200 || !strings.Contains(string(b), `"demo-partner"`) {
		t.Fatalf("/admin on the admin listener: %d %s", st, b)
	}
	// No trusted proxies by default: the forwarded address is ignored.
	if strings.Contains(string(b), "203.0.113.7") || !strings.Contains(string(b), `"127.0.0.1"`) {
		t.Fatalf("audit source believed X-Forwarded-For: %s", b)
	}
	// Header sizes are bounded.
	if st, _, _ := httpsCall(t, c, http.MethodGet, base+"/healthz", "", nil, http.Header{"X-Big": {strings.Repeat("a", 128<<10)}}); st != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("128 KiB of headers: %d", st)
	}
}
