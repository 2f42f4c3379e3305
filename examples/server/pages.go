package main

import (
	"embed"
	"html/template"
	"net/http"
)

// The pages the emailed links open (mail.DefaultPaths): a form each, whose
// script posts JSON to the public routes of the admin API or to /login.
// They are what a browser needs to accept an invitation or reset a
// password with this server alone; an application has its own.

//go:embed pages/page.html
var pageFiles embed.FS

var pageTemplate = template.Must(template.ParseFS(pageFiles, "pages/page.html"))

// page is one form.
type page struct {
	Title, Intro, Button, Done string
	Action                     string // where the script posts the form
	Fields                     []field
	needsToken                 bool // the link carries ?token=, posted with the form
}

// field is one input of a form.
type field struct{ Label, Name, Type, Autocomplete string }

var (
	emailField       = field{"Email", "email", "email", "username"}
	passwordField    = field{"Password", "password", "password", "current-password"}
	newPasswordField = field{"New password", "password", "password", "new-password"}
)

// pages maps each link path to its form.
var pages = map[string]page{
	"/invitation": {Title: "Accept your invitation", Intro: "Choose the password you will sign in with.",
		Button: "Accept", Done: "You can sign in now.", Action: "/admin/api/public/invitation/accept",
		Fields: []field{newPasswordField}, needsToken: true},
	"/reset-password": {Title: "Choose a new password", Intro: "This link works once, for an hour.",
		Button: "Set the password", Done: "You can sign in with it now.", Action: "/admin/api/public/password-reset/confirm",
		Fields: []field{newPasswordField}, needsToken: true},
	"/confirm-email": {Title: "Confirm your new email address", Intro: "Your account will use this address from now on.",
		Button: "Confirm", Done: "The new address is in use.", Action: "/admin/api/public/email-change/confirm", needsToken: true},
	"/forgot-password": {Title: "Forgot your password?", Intro: "If the address has an account, a link to reset the password is on its way.",
		Button: "Send the link", Done: "Check your mailbox.", Action: "/admin/api/public/password-reset",
		Fields: []field{emailField}},
	"/login": {Title: "Sign in", Intro: "Then use the admin API (/admin/api/) with the session cookie.",
		Button: "Sign in", Done: "You are signed in.", Action: "/login", Fields: []field{emailField, passwordField}},
}

// servePage answers the form of the request's path, with the link's token
// put into it (escaped by html/template), and 404 for a token page
// opened without one.
func servePage(p page, appName string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := r.URL.Query().Get("token")
		if p.needsToken && token == "" {
			http.Error(w, "this page is opened from the link of an email", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer") // the URL carries a token
		w.Header().Set("X-Frame-Options", "DENY")
		data := struct {
			page
			AppName, Token string
		}{p, appName, token}
		if err := pageTemplate.Execute(w, data); err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}
}
