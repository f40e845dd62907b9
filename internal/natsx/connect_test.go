package natsx_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// listening starts a JetStream server on a loopback port with opts' auth
// and TLS settings and returns its URL.
func listening(t *testing.T, opts *server.Options) string {
	t.Helper()
	opts.Host, opts.Port = "127.0.0.1", -1
	opts.JetStream, opts.StoreDir = true, t.TempDir()
	opts.NoLog, opts.NoSigs = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	return ns.ClientURL()
}

func connects(t *testing.T, cfg natsx.ConnectConfig) error {
	t.Helper()
	nc, js, err := natsx.Connect(cfg)
	if err != nil {
		return err
	}
	defer nc.Close()
	_, err = js.AccountInfo(ctxT(t))
	return err
}

// TestConnect_user_password: --nats-user/--nats-password reach a server
// that requires them; a wrong password is refused.
func TestConnect_user_password(t *testing.T) {
	url := listening(t, &server.Options{Username: "cpib", Password: "s3cret"})
	if err := connects(t, natsx.ConnectConfig{URLs: url, User: "cpib", Password: "s3cret"}); err != nil {
		t.Fatalf("with the password: %v", err)
	}
	if err := connects(t, natsx.ConnectConfig{URLs: url, User: "cpib", Password: "wrong"}); err == nil {
		t.Fatal("a wrong password connected")
	}
}

// TestConnect_nkey: --nats-nkey reads a user seed file and signs the
// server's nonce with it.
func TestConnect_nkey(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	path := filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(path, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	url := listening(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}})
	if err := connects(t, natsx.ConnectConfig{URLs: url, NKeyFile: path}); err != nil {
		t.Fatalf("with the nkey: %v", err)
	}
	if err := connects(t, natsx.ConnectConfig{URLs: url}); err == nil {
		t.Fatal("connected without the nkey")
	}
}

// TestConnect_TLS: --nats-ca verifies the server, --nats-cert/--nats-key
// authenticate the client to a server that verifies client certificates.
func TestConnect_TLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCert(t, dir, "ca", nil, nil)
	newCert(t, dir, "server", ca, caKey)
	newCert(t, dir, "client", ca, caKey)
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
		CertFile: filepath.Join(dir, "server.pem"), KeyFile: filepath.Join(dir, "server-key.pem"),
		CaFile: filepath.Join(dir, "ca.pem"), Verify: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	url := listening(t, &server.Options{TLS: true, TLSConfig: tc, TLSVerify: true, TLSTimeout: 5})
	good := natsx.ConnectConfig{URLs: url, CAFile: filepath.Join(dir, "ca.pem"),
		CertFile: filepath.Join(dir, "client.pem"), KeyFile: filepath.Join(dir, "client-key.pem")}
	if err := connects(t, good); err != nil {
		t.Fatalf("with CA and client certificate: %v", err)
	}
	noCert := good
	noCert.CertFile, noCert.KeyFile = "", ""
	if err := connects(t, noCert); err == nil {
		t.Fatal("connected without a client certificate")
	}
	noCA := good
	noCA.CAFile = ""
	if err := connects(t, noCA); err == nil {
		t.Fatal("trusted a server certificate of an unknown CA")
	}
}

// newCert writes name.pem and name-key.pem: a CA when parent is nil, else
// a certificate for 127.0.0.1 signed by parent.
func newCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	signer, signerKey := tmpl, key
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	} else {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(name+".pem", "CERTIFICATE", der)
	write(name+"-key.pem", "EC PRIVATE KEY", kb)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}
