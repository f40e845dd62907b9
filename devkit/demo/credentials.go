package demo

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Credentials is the content of demo-credentials.json.
type Credentials struct {
	BaseURL string  `json:"base_url"`
	Partner Partner `json:"partner"`
	Admin   Admin   `json:"admin"`
}

// Partner is the demo partner's credentials.
type Partner struct {
	ClientID      string `json:"client_id"`
	ClientSecret  string `json:"client_secret"`
	WebhookSecret string `json:"webhook_secret"`
}

// Admin is the demo operator's credentials.
type Admin struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// Client IDs of the demo.
const (
	PartnerID = "demo-partner"
	AdminID   = "demo-admin"
)

// loadOrNewCredentials reads the file, or makes new secrets when absent.
func loadOrNewCredentials(path string) (Credentials, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Credentials{
			Partner: Partner{ClientID: PartnerID, ClientSecret: secret("cs_"), WebhookSecret: webhookSecret()},
			Admin:   Admin{ClientID: AdminID, ClientSecret: secret("cs_")},
		}, true, nil
	}
	if err != nil {
		return Credentials{}, false, fmt.Errorf("demo: read %s: %w", path, err)
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return Credentials{}, false, fmt.Errorf("demo: %s is not valid JSON (delete it to start over): %w", path, err)
	}
	if c.Partner.ClientSecret == "" || c.Admin.ClientSecret == "" {
		return Credentials{}, false, fmt.Errorf("demo: %s lacks secrets (delete it to start over)", path)
	}
	return c, false, nil
}

func writeCredentials(path string, c Credentials) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("demo: write credentials: %w", err)
	}
	return os.Rename(tmp, path)
}

func secret(prefix string) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// webhookSecret is a Standard Webhooks whsec_ secret (24 random bytes).
func webhookSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}
