package webui

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
)

// Handler is a page handler that runs with a signed-in session.
type Handler func(w http.ResponseWriter, r *http.Request, s *Session)

// Gate is what the console and the portal share around their pages: the
// sign-in form, its exchange of client credentials for a token and a
// session, and the check that every other page has a session (and, for a
// form post, a valid CSRF token from the same origin).
type Gate struct {
	// App names the application on the pages ("Console", "Portal").
	App string
	// Base is the path the pages are served under ("/console").
	Base string
	// API is the in-process API; nil until the ingress has mounted it.
	API *atomic.Pointer[API]
	// Sessions holds the signed-in sessions.
	Sessions *Sessions
	// Render renders the "signin" page.
	Render *Renderer
	// MaxForm bounds the body of a signed-in form post.
	MaxForm int64
	// Admit, when set, vets a token just issued: a non-empty answer refuses
	// the sign-in with 403 and that text (the console admits admins only).
	Admit func(r *http.Request, api *API, tok Token) string
}

// maxSignInForm bounds the sign-in form's body.
const maxSignInForm = 64 << 10

// SignInPage shows the sign-in form, or the start page to a signed-in
// visitor.
func (g *Gate) SignInPage(w http.ResponseWriter, r *http.Request) {
	if g.Sessions.Get(r) != nil {
		http.Redirect(w, r, g.Base+"/", http.StatusSeeOther)
		return
	}
	g.Render.Render(w, http.StatusOK, "signin", Page{App: g.App, Base: g.Base, Title: "Sign in"})
}

// SignIn exchanges the form's client credentials for a token through the
// API's own token endpoint (its limiter and audit included) and starts a
// session.
func (g *Gate) SignIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxSignInForm)
	fail := func(status int, msg string) {
		g.Render.Render(w, status, "signin", Page{App: g.App, Base: g.Base, Title: "Sign in", Error: msg})
	}
	api := g.API.Load()
	if api == nil || !ValidForm(r, nil) {
		fail(http.StatusForbidden, "The sign-in form came from another site.")
		return
	}
	id := strings.TrimSpace(r.PostFormValue("client_id"))
	tok, err := api.SignIn(r, id, r.PostFormValue("client_secret"))
	switch {
	case errors.Is(err, ErrSignIn):
		fail(http.StatusUnauthorized, "The client ID or secret is wrong.")
		return
	case err != nil:
		fail(http.StatusServiceUnavailable, err.Error())
		return
	}
	if g.Admit != nil {
		if msg := g.Admit(r, api, tok); msg != "" {
			fail(http.StatusForbidden, msg)
			return
		}
	}
	g.Sessions.Start(w, r, id, tok)
	http.Redirect(w, r, g.Base+"/", http.StatusSeeOther)
}

// SignedIn runs h with the visitor's session, or sends the visitor to the
// sign-in form. A form post must carry the session's CSRF token and come
// from the same origin.
func (g *Gate) SignedIn(h Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := g.Sessions.Get(r)
		if s == nil || g.API.Load() == nil {
			http.Redirect(w, r, g.Base+"/signin", http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, g.MaxForm)
			if !ValidForm(r, s) {
				http.Error(w, "the form expired or came from another site; reload the page and try again", http.StatusForbidden)
				return
			}
		}
		h(w, r, s)
	}
}
