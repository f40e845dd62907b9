package auth_test

import (
	"testing"

	"github.com/cpibroker/cpibroker/auth"
)

func TestPrincipalAllowsFlow(t *testing.T) {
	for _, tc := range []struct {
		scope []string
		flow  string
		want  bool
	}{
		{[]string{"flow:*"}, "demo-echo", true},
		{[]string{"flow:demo-echo"}, "demo-echo", true},
		{[]string{"flow:demo-echo"}, "demo-slow", false},
		{[]string{"admin", "flow:demo-slow"}, "demo-slow", true},
		{[]string{"admin"}, "demo-echo", false},
		{nil, "demo-echo", false},
		{[]string{"flow:demo"}, "demo-echo", false},
		{[]string{"flow:demo-echo-2"}, "demo-echo", false},
		{[]string{"*"}, "demo-echo", false},
		{[]string{"flow:"}, "", false},
		{[]string{"flow:*"}, "", false},
		{[]string{"flow:*"}, "Demo Echo", false},
	} {
		p := auth.Principal{ClientID: testClient, Scope: tc.scope}
		if got := p.AllowsFlow(tc.flow); got != tc.want {
			t.Errorf("scope %q AllowsFlow(%q) = %v, want %v", tc.scope, tc.flow, got, tc.want)
		}
	}
	if p := (auth.Principal{Scope: []string{"flow:*", "admin"}}); !p.HasScope(auth.ScopeAdmin) || p.HasScope("adm") {
		t.Errorf("HasScope wrong for %q", p.Scope)
	}
	if got := auth.FlowScope("demo-echo"); got != "flow:demo-echo" {
		t.Errorf("FlowScope = %q", got)
	}
}
