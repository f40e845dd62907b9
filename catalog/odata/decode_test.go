package odata

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestDecodePageAndEntities(t *testing.T) {
	body := []byte(`{"d":{"results":[{
	  "__metadata":{"id":"x","uri":"x","type":"com.sap.hci.api.ServiceEndpoint"},
	  "Name":"CPI_IFlow","Id":"CPI_IFlow$endpointAddress=testwithcert","Title":"T","Version":"1.0.5",
	  "LastUpdated":"/Date(1560491841916)/","Protocol":"REST",
	  "EntryPoints":{"results":[{"Name":"CPI_IFlow","Url":"https://h/http/testwithcert","Type":"PROD","AdditionalInformation":""}]},
	  "ApiDefinitions":{"__deferred":{"uri":"u"}}}],
	  "__next":"ServiceEndpoints?$skiptoken=1000","__count":"1001"}}`)
	p, err := DecodePage(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Results) != 1 || p.Next != "ServiceEndpoints?$skiptoken=1000" || p.Count != 1001 {
		t.Fatalf("page = %+v", p)
	}
	var se ServiceEndpoint
	if err := json.Unmarshal(p.Results[0], &se); err != nil {
		t.Fatal(err)
	}
	if se.Address() != "/testwithcert" || len(se.EntryPoints.Results) != 1 || se.EntryPoints.Results[0].URL != "https://h/http/testwithcert" {
		t.Fatalf("endpoint = %+v", se)
	}
	if !se.LastUpdated.Equal(time.UnixMilli(1560491841916)) {
		t.Fatalf("LastUpdated = %v", se.LastUpdated)
	}
	// A deferred navigation property is empty, not an error.
	if err := json.Unmarshal([]byte(`{"Id":"a","EntryPoints":{"__deferred":{"uri":"u"}}}`), &se); err != nil || !se.EntryPoints.Deferred || len(se.EntryPoints.Results) != 0 {
		t.Fatalf("deferred: %+v, %v", se.EntryPoints, err)
	}
	// The V1 form of a collection.
	if p, err := DecodePage([]byte(`{"d":[{"Id":"a"}]}`)); err != nil || len(p.Results) != 1 || p.Count != -1 {
		t.Fatalf("V1 form: %+v, %v", p, err)
	}
	for _, bad := range []string{``, `[]`, `{}`, `{"d":null}`, `{"d":{}}`, `{"d":{"results":{}}}`, `{"d":{"results":[],"__count":"x"}}`, `<feed/>`} {
		if _, err := DecodePage([]byte(bad)); !errors.Is(err, ErrEnvelope) {
			t.Errorf("DecodePage(%q) = %v, want ErrEnvelope", bad, err)
		}
	}
}

func TestParseTimeBothForms(t *testing.T) {
	want := time.Date(2021, 2, 18, 11, 57, 2, 885e6, time.UTC)
	for _, s := range []string{
		"/Date(1613649422885)/", "/Date(1613649422885+0060)/", "2021-02-18T11:57:02.885",
		"2021-02-18T11:57:02.885Z", "2021-02-18T12:57:02.885+01:00",
	} {
		got, err := ParseTime(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	if got, err := ParseTime("/Date(-1000)/"); err != nil || got.Unix() != -1 {
		t.Errorf("negative ms: %v %v", got, err)
	}
	for _, s := range []string{"/Date()/", "/Date(12", "/Date(x)/", "/Date(1+)/", "yesterday"} {
		if _, err := ParseTime(s); err == nil {
			t.Errorf("ParseTime(%q) accepted", s)
		}
	}
	var a RuntimeArtifact
	if err := json.Unmarshal([]byte(`{"Id":"x","DeployedOn":null}`), &a); err != nil || !a.DeployedOn.IsZero() {
		t.Fatalf("null date: %v %v", a.DeployedOn, err)
	}
}

func TestErrorMessage(t *testing.T) {
	for body, want := range map[string]string{
		`{"error":{"code":"Bad Request","message":{"lang":"en","value":"Name should begin"}}}`: "Name should begin",
		`{"error":{"message":{"@lang":"en","#text":"pipers form"}}}`:                           "pipers form",
		`{"error":{"message":"plain"}}`:                                                        "plain",
		`not json`:                                                                             "",
		`{"error":{}}`:                                                                         "",
	} {
		if got := ErrorMessage([]byte(body)); got != want {
			t.Errorf("ErrorMessage(%s) = %q, want %q", body, got, want)
		}
	}
}

// FuzzDecode feeds hostile bodies to every decoder: none may panic, and
// whatever DecodePage accepts re-decodes entity by entity without panics.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"d":{"results":[{"Name":"a","Id":"a$endpointAddress=x","LastUpdated":"/Date(1)/","EntryPoints":{"results":[{"Url":"u"}]}}],"__next":"n","__count":"3"}}`,
		`{"d":[{"Id":"x","DeployedOn":"2021-02-18T11:57:02.885"}]}`,
		`{"d":{"results":[{"EntryPoints":{"__deferred":{"uri":"u"}},"LastUpdated":"/Date(1+0060)/"}]}}`,
		`{"error":{"message":{"lang":"en","value":"v"}}}`,
		`{"d":{"results":[{"LastUpdated":"/Date(-99999999999999999999)/"}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = ErrorMessage(b)
		p, err := DecodePage(b)
		if err != nil {
			if !errors.Is(err, ErrEnvelope) {
				t.Fatalf("error not wrapping ErrEnvelope: %v", err)
			}
			return
		}
		for _, r := range p.Results {
			var se ServiceEndpoint
			if json.Unmarshal(r, &se) == nil {
				_ = se.Address()
			}
			var a RuntimeArtifact
			_ = json.Unmarshal(r, &a)
		}
		if s := string(b); len(s) < 64 {
			_, _ = ParseTime(s)
		}
	})
}
