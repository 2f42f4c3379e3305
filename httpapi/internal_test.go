package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/usermgmt/usermgmt"
	"github.com/usermgmt/usermgmt/store/memstore"
)

func testHandler(t *testing.T, log *slog.Logger) *Handler {
	t.Helper()
	m, err := usermgmt.New(memstore.New())
	require.NoError(t, err)
	h, err := New(m, Options{BasePath: "/api", Logger: log, Actor: func(*http.Request) (string, error) { return "", nil }})
	require.NoError(t, err)
	return h
}

// answer returns the problem fail writes for err.
func answer(t *testing.T, h *Handler, err error, pinned bool) (*httptest.ResponseRecorder, Problem) {
	t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/api/x", nil)
	c := &call{h: h, w: w, r: r, ctx: r.Context(), pinned: pinned}
	c.fail(err)
	var p Problem
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
	require.Equal(t, w.Code, p.Status)
	require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
	return w, p
}

// TestProblemMapping answers every sentinel of API 1.0 with its status and
// code, and the richer errors with their fields, reasons and details.
func TestProblemMapping(t *testing.T) {
	h := testHandler(t, nil)
	sentinels := []*usermgmt.Error{usermgmt.ErrInvalidInput, usermgmt.ErrInvalidEmail, usermgmt.ErrDisposableEmail,
		usermgmt.ErrDuplicateEmail, usermgmt.ErrWeakPassword, usermgmt.ErrTokenInvalid, usermgmt.ErrTokenExpired,
		usermgmt.ErrInvalidCredentials, usermgmt.ErrWrongPassword, usermgmt.ErrLocked, usermgmt.ErrBanned,
		usermgmt.ErrDisabled, usermgmt.ErrInactive, usermgmt.ErrAttemptsInFlight, usermgmt.ErrRateLimited,
		usermgmt.ErrActorInactive, usermgmt.ErrPermissionDenied, usermgmt.ErrTargetOutranks, usermgmt.ErrNotGrantable,
		usermgmt.ErrLastAdmin, usermgmt.ErrInvalidTransition, usermgmt.ErrUnknownRole, usermgmt.ErrUnknownPermission,
		usermgmt.ErrInvalidCursor, usermgmt.ErrNotFound, usermgmt.ErrConflict, usermgmt.ErrDuplicateName,
		usermgmt.ErrDuplicateID, usermgmt.ErrNotConfigured}
	for _, s := range sentinels {
		w, p := answer(t, h, fmt.Errorf("%w: because", s), false)
		require.Equal(t, s.Status(), w.Code, s.Code())
		require.Equal(t, s.Code(), p.Code)
		require.Equal(t, "urn:usermgmt:problem:"+s.Code(), p.Type)
		require.Equal(t, s.Message(), p.Title)
		require.Equal(t, s.Message()+": because", p.Detail)
		if w.Code == http.StatusTooManyRequests {
			require.NotEmpty(t, w.Header().Get("Retry-After"), s.Code())
		} else {
			require.Empty(t, w.Header().Get("Retry-After"), s.Code())
		}
	}
	_, p := answer(t, h, usermgmt.ErrNotFound, false)
	require.Empty(t, p.Detail, "no detail repeats the title")
	w, _ := answer(t, h, usermgmt.ErrAttemptsInFlight, false)
	require.Equal(t, "1", w.Header().Get("Retry-After"))

	// Field, password and transition errors.
	_, p = answer(t, h, &usermgmt.FieldError{Field: "email", Reason: "is empty", Err: usermgmt.ErrInvalidEmail}, false)
	require.Equal(t, []FieldProblem{{Field: "email", Reason: "is empty"}}, p.Errors)
	require.Equal(t, "invalid_email", p.Code)
	_, p = answer(t, h, &usermgmt.PasswordError{Reasons: []string{"too short", "too common"}}, false)
	require.Equal(t, []string{"too short", "too common"}, p.Reasons)
	require.Equal(t, "weak_password", p.Code)
	w, p = answer(t, h, &usermgmt.TransitionError{Action: usermgmt.ActionBan, From: usermgmt.StatusRemoved}, false)
	require.Equal(t, http.StatusConflict, w.Code)
	require.Equal(t, "cannot ban a user who is removed", p.Detail)

	// A conflict under If-Match is 412; without it, 409.
	w, p = answer(t, h, usermgmt.ErrConflict, true)
	require.Equal(t, http.StatusPreconditionFailed, w.Code)
	require.Equal(t, "precondition_failed", p.Code)

	// Context errors.
	w, p = answer(t, h, context.Canceled, false)
	require.Equal(t, 499, w.Code)
	require.Equal(t, "canceled", p.Code)
	w, p = answer(t, h, fmt.Errorf("reading: %w", context.DeadlineExceeded), false)
	require.Equal(t, http.StatusGatewayTimeout, w.Code)
	require.Equal(t, "timeout", p.Code)
}

func TestInternalErrorsNotLeaked(t *testing.T) {
	var logs bytes.Buffer
	h := testHandler(t, slog.New(slog.NewTextHandler(&logs, nil)))
	w, p := answer(t, h, errors.New("dial tcp 10.1.2.3:5432: secret-host refused"), false)
	require.Equal(t, http.StatusInternalServerError, w.Code)
	require.Equal(t, "internal", p.Code)
	require.Equal(t, "internal error", p.Title)
	require.Empty(t, p.Detail)
	require.NotContains(t, w.Body.String(), "secret-host")
	require.Contains(t, logs.String(), "secret-host")

	w, p = answer(t, h, usermgmt.StoreError(usermgmt.ErrStore, errors.New("sqlite: database is locked (secret.db)")), false)
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.Equal(t, "store_failure", p.Code)
	require.NotContains(t, w.Body.String(), "secret.db")
	require.Contains(t, logs.String(), "secret.db")
}

// TestEveryRouteIsServed checks that the mux sends each route of the
// table to that route, BasePath included.
func TestEveryRouteIsServed(t *testing.T) {
	h := testHandler(t, nil)
	for _, rt := range h.routes {
		path := "/api" + strings.NewReplacer("{id}", "x1", "{user_id}", "u1", "{name}", "n1").Replace(rt.path)
		r := httptest.NewRequest(rt.method, path, nil)
		_, pattern := h.mux.Handler(r)
		require.Equal(t, rt.method+" /api"+rt.path, pattern, "%s %s", rt.method, path)
	}
}

func TestParseIfMatch(t *testing.T) {
	for in, want := range map[string]int64{`"1"`: 1, `"42"`: 42, ` "7" `: 7, `*`: -1} {
		v, ok := parseIfMatch(in)
		require.True(t, ok, in)
		require.Equal(t, want, v, in)
	}
	for _, in := range []string{`1`, `W/"1"`, `"01"`, `"-1"`, `"1", "2"`, `""`, `"x"`, `"99999999999999999999"`} {
		_, ok := parseIfMatch(in)
		require.False(t, ok, in)
	}
	require.Equal(t, `"12"`, etag(12))
}
