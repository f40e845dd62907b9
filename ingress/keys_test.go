package ingress_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cpibroker/cpibroker/auth"
	"github.com/cpibroker/cpibroker/devkit/testkit"
)

func kidOf(t *testing.T, token string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

func jwksKids(t *testing.T, sys *testkit.System) []string {
	t.Helper()
	resp, err := http.Get(sys.BaseURL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

// TestKeyRotation: after POST /admin/v1/keys/rotate new tokens carry the
// new kid, tokens of the old key keep working (its public key stays in
// the JWKS until they expire), and the key file holds the new key.
func TestKeyRotation(t *testing.T) {
	sys := testkit.Start(t, testkit.Options{})
	admin := adminOf(t, sys)
	p := sys.Partner()
	oldKID := kidOf(t, p.Token)

	r := sendJSON(admin, http.MethodPost, "/admin/v1/keys/rotate", nil)
	expectStatus(t, r, http.StatusOK)
	var rot struct {
		OldKID string `json:"old_kid"`
		NewKID string `json:"new_kid"`
	}
	r.JSON(t, &rot)
	if rot.OldKID != oldKID || rot.NewKID == "" || rot.NewKID == oldKID {
		t.Fatalf("rotate: %s (old token kid %s)", r.Body, oldKID)
	}
	fresh := sys.Partner()
	if kidOf(t, fresh.Token) != rot.NewKID {
		t.Fatalf("new token signed with %s, want %s", kidOf(t, fresh.Token), rot.NewKID)
	}
	expectStatus(t, p.Do(http.MethodGet, "/v1/flows", nil, nil), http.StatusOK)
	expectStatus(t, fresh.Do(http.MethodGet, "/v1/flows", nil, nil), http.StatusOK)
	kids := strings.Join(jwksKids(t, sys), " ")
	if !strings.Contains(kids, rot.OldKID) || !strings.Contains(kids, rot.NewKID) {
		t.Fatalf("JWKS kids %q lack the old or the new key", kids)
	}
	k, err := auth.LoadSigningKey(filepath.Join(sys.DataDir, "signing-key.pem"))
	if err != nil || k.KID() != rot.NewKID {
		t.Fatalf("key file holds %v (%v), want %s", k, err, rot.NewKID)
	}
	r = admin.Do(http.MethodGet, "/admin/v1/keys", nil, nil)
	if !strings.Contains(string(r.Body), `"state":"retired"`) || !strings.Contains(string(r.Body), `"signing":true`) ||
		strings.Contains(string(r.Body), `"d"`) {
		t.Fatalf("keys: %s", r.Body)
	}
	expectProblem(t, p.Do(http.MethodPost, "/admin/v1/keys/rotate", nil, nil), http.StatusForbidden, "forbidden")
}
