package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/alexedwards/scs/v2"
	"github.com/usermgmt/usermgmt"
)

// ErrNoCredentials is what the actor adapters return for a request that
// carries no credentials (no bearer token, no signed-in session).
var ErrNoCredentials = errors.New("httpapi: no credentials")

// ErrSessionEnded is what SCSActor returns for a session whose user's
// sessions must end (usermgmt.Manager.SessionValid answered false).
var ErrSessionEnded = errors.New("httpapi: the session has ended")

// BearerActor returns an Actor that reads "Authorization: Bearer <token>"
// and asks verify, the application's, which user the token stands for.
// verify's error (an unknown or expired token) is answered 401.
func BearerActor(verify func(ctx context.Context, token string) (actorID string, err error)) func(*http.Request) (string, error) {
	return func(r *http.Request) (string, error) {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		token = strings.TrimSpace(token)
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			return "", ErrNoCredentials
		}
		return verify(r.Context(), token)
	}
}

// SCSActor adapts a session of github.com/alexedwards/scs/v2: the
// application's login puts the user's ID and session version in the
// session (Login does both), and Actor reads them back. Wrap the Handler
// in Sessions.LoadAndSave.
type SCSActor struct {
	Sessions *scs.SessionManager
	// Manager, when set, checks each request's session with
	// Manager.SessionValid, so that a session ends as soon as the user's
	// SessionVersion moves (a ban, a new password, a role change...): the
	// session is destroyed and Actor returns ErrSessionEnded.
	Manager *usermgmt.Manager
	// UserIDKey and SessionVersionKey are the session keys; defaults
	// "usermgmt.user_id" and "usermgmt.session_version".
	UserIDKey         string
	SessionVersionKey string
}

func (a SCSActor) keys() (string, string) {
	id, ver := a.UserIDKey, a.SessionVersionKey
	if id == "" {
		id = "usermgmt.user_id"
	}
	if ver == "" {
		ver = "usermgmt.session_version"
	}
	return id, ver
}

// Actor is the Options.Actor of the session: the signed-in user's ID.
func (a SCSActor) Actor(r *http.Request) (actorID string, err error) {
	defer func() {
		// scs panics when the request did not pass through LoadAndSave.
		if p := recover(); p != nil {
			actorID, err = "", fmt.Errorf("httpapi: no session loaded (wrap the handler in LoadAndSave): %v", p)
		}
	}()
	idKey, verKey := a.keys()
	ctx := r.Context()
	id := a.Sessions.GetString(ctx, idKey)
	if id == "" {
		return "", ErrNoCredentials
	}
	if a.Manager != nil {
		ver, ok := a.Sessions.Get(ctx, verKey).(int64)
		valid := false
		if ok {
			if valid, err = a.Manager.SessionValid(ctx, id, ver); err != nil {
				return "", err
			}
		}
		if !valid {
			// Ended for good: destroy it, so that its cookie is cleared
			// and its data leaves the session store.
			if err := a.Sessions.Destroy(ctx); err != nil {
				return "", fmt.Errorf("httpapi: destroying an ended session: %w", err)
			}
			return "", ErrSessionEnded
		}
	}
	return id, nil
}

// Login starts a session for u, who has just authenticated
// (Manager.Authenticate): it renews the session token, against session
// fixation, and stores the user's ID and session version.
func (a SCSActor) Login(ctx context.Context, u usermgmt.User) error {
	if err := a.Sessions.RenewToken(ctx); err != nil {
		return err
	}
	idKey, verKey := a.keys()
	a.Sessions.Put(ctx, idKey, u.ID)
	a.Sessions.Put(ctx, verKey, u.SessionVersion)
	return nil
}

// Logout ends the session.
func (a SCSActor) Logout(ctx context.Context) error {
	return a.Sessions.Destroy(ctx)
}
