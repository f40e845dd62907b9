package openapi_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/cpibroker/cpibroker/catalog"
	"github.com/cpibroker/cpibroker/catalog/openapi"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// validate checks a document against the OpenAPI 3.1 schema with
// libopenapi-validator and returns it.
func validate(t *testing.T, b []byte) {
	t.Helper()
	doc, err := libopenapi.NewDocument(b)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Fatalf("openapi version %q", v)
	}
	if _, errs := doc.BuildV3Model(); errs != nil {
		t.Fatalf("model: %v", errs)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("invalid OpenAPI 3.1: %s: %s (%v)", e.Message, e.Reason, e.SchemaValidationErrors)
		}
		t.FailNow()
	}
}

func fixtureFlows() []catalog.Flow {
	pol := catalog.DefaultPolicy()
	fwd := catalog.DefaultPolicy()
	fwd.ForwardHeaders = []string{"X-Order-Channel", "x-order-channel", "Idempotency-Key", "Content-Type"}
	return []catalog.Flow{
		{ID: "demo-slow", Provider: "demo", Title: "Slow", Description: "Waits 500 ms, then echoes.", Protocol: "REST",
			URL: "https://t.example/http/demo/slow", Status: catalog.FlowEnabled, Policy: pol},
		{ID: "acme-orders", Provider: "acme", ArtifactID: "Orders", Address: "/orders/*", Title: "Orders", Protocol: "REST",
			URL: "https://t.example/http/orders/*", Status: catalog.FlowEnabled, Policy: fwd},
		{ID: "acme-invoice-soap", Provider: "acme", Title: "Invoices (SOAP)", Protocol: "SOAP",
			URL: "https://t.example/cxf/invoice", Status: catalog.FlowDisabled, Policy: pol},
		{ID: "acme-gone", Provider: "acme", Protocol: "REST", URL: "https://t.example/http/gone", Status: catalog.FlowUnavailable, Policy: pol},
	}
}

// TestGolden compares the document for a fixed client and flows with
// testdata/partner.json (go test ./catalog/openapi -update rewrites it) and
// validates it as OpenAPI 3.1.
func TestGolden(t *testing.T) {
	cases := map[string][]catalog.Flow{"partner.json": fixtureFlows(), "no-flows.json": nil}
	for name, flows := range cases {
		b, err := openapi.Generate(openapi.Info{ServerURL: "https://broker.example.com/", ClientID: "acme", ClientName: "ACME Corp"}, flows)
		if err != nil {
			t.Fatal(err)
		}
		validate(t, b)
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if !bytes.Equal(b, want) {
			t.Fatalf("%s differs from the generated document; run go test ./catalog/openapi -update and review the diff", path)
		}
	}
}

// TestDeterministic: flow order does not change the document.
func TestDeterministic(t *testing.T) {
	info := openapi.Info{ServerURL: "https://b.example", ClientID: "x"}
	flows := fixtureFlows()
	a, _ := openapi.Generate(info, flows)
	flows[0], flows[3] = flows[3], flows[0]
	b, _ := openapi.Generate(info, flows)
	if !bytes.Equal(a, b) {
		t.Fatal("document depends on flow order")
	}
}

// TestValidatorCatchesMistakes makes sure the validation above is not a
// no-op: a response without its required description is refused.
func TestValidatorCatchesMistakes(t *testing.T) {
	bad := []byte(`{"openapi":"3.1.0","info":{"title":"x","version":"1"},"paths":{"/x":{"get":{"responses":{"200":{"content":{}}}}}}}`)
	doc, err := libopenapi.NewDocument(bad)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := validator.NewValidator(doc)
	if ok, _ := v.ValidateDocument(); ok {
		t.Fatal("an invalid document passed validation")
	}
}

// The admin API's document is valid OpenAPI 3.1.
func TestAdminDocumentValid(t *testing.T) {
	b, err := openapi.GenerateAdmin("https://broker.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	validate(t, b)
	if !bytes.Contains(b, []byte(`"tokenUrl": "https://broker.example.com/oauth/token"`)) {
		t.Error("the token URL is not the broker's")
	}
}
