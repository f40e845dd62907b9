package main

import "flag"

// registerIngress adds the flags of the partner API (`serve` and `cpibroker
// ingress`): listener, issuer, TLS, token signing, request limits, IdPs.
func (f *serveFlags) registerIngress(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "partner API listen address")
	fs.StringVar(&f.trustedProxies, "trusted-proxies", "", "comma-separated CIDRs or IPs of reverse proxies whose X-Forwarded-For is believed (default none)")
	fs.DurationVar(&f.drainDelay, "drain-delay", 0, "on SIGTERM, keep the listener open this long answering 503 to new work (and /readyz 503) so load balancers move away first")
	fs.BoolVar(&f.accessLog, "access-log", false, "log every request at info level: method, route, status, duration, client, job ID (never tokens, queries or bodies)")
	fs.StringVar(&f.publicURL, "public-url", "", "base URL partners use; the token issuer (default http://<listen>)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate file for the partner API")
	fs.StringVar(&f.tlsKey, "tls-key", "", "TLS key file for the partner API")
	fs.StringVar(&f.signingKey, "signing-key", "", "Ed25519 token signing key, PEM (default <data-dir>/signing-key.pem, created if missing)")
	fs.Int64Var(&f.maxPayload, "max-payload", 64<<20, "largest accepted request body in bytes")
	fs.Var(&f.idps, "idp", "accept tokens of an external IdP (repeatable): issuer=URL,audience=AUD,jwks_url=URL[,client_claim=client_id][,name=N]")
}
