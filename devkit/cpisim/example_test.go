package cpisim_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/cpibroker/cpibroker/devkit/cpisim"
)

// A tenant with the demo flows, called the way a client calls CPI: token,
// CSRF fetch, then POST with the token and the session cookie.
func Example() {
	sim, err := cpisim.New(cpisim.Config{})
	if err != nil {
		panic(err)
	}
	defer sim.Close()
	for _, f := range cpisim.DemoIFlows() {
		if err := sim.Deploy(f); err != nil {
			panic(err)
		}
	}
	if _, err := sim.Start("127.0.0.1:0"); err != nil {
		panic(err)
	}

	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {cpisim.DefaultRuntimeClientID}, "client_secret": {cpisim.DefaultRuntimeClientSecret}}
	resp, err := http.PostForm(sim.TokenURL(), form)
	if err != nil {
		panic(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	decodeJSON(resp, &tok)

	fetch, _ := http.NewRequest(http.MethodGet, sim.EndpointURL("Echo"), nil)
	fetch.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	fetch.Header.Set("X-CSRF-Token", "Fetch")
	resp, err = http.DefaultClient.Do(fetch)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()

	post, _ := http.NewRequest(http.MethodPost, sim.EndpointURL("Echo"), strings.NewReader(`{"hello":"cpi"}`))
	post.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	post.Header.Set("Content-Type", "application/json")
	post.Header.Set("X-CSRF-Token", resp.Header.Get("X-CSRF-Token"))
	for _, c := range resp.Cookies() {
		post.AddCookie(c)
	}
	resp, err = http.DefaultClient.Do(post)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Content-Type"), string(body), len(resp.Header.Get("SAP_MessageProcessingLogID")))
	fmt.Println(sim.CallCount("Echo"), sim.CSRFFetches("Echo"))
	// Output:
	// 200 application/json {"hello":"cpi"} 28
	// 1 1
}
func decodeJSON(resp *http.Response, v any) {
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		panic(err)
	}
}
