package redisstore

import (
	"reflect"
	"testing"
	"time"

	"github.com/usermgmt/usermgmt"
)

var codecTime = time.Date(2026, 11, 1, 9, 30, 0, 123456789, time.UTC)

// sweptUser is a user as the sweep writes one: a plain Active user made
// Inactive.
func sweptUser() usermgmt.UserRecord {
	return usermgmt.UserRecord{ID: "01900000-0000-7000-8000-000000012345", AccountID: "01900000-0000-7000-8000-a00000000000",
		Email: "user0012345@bench.example", FirstName: "First12345", LastName: "Benchmark", Role: usermgmt.RoleGeneral,
		Status: usermgmt.StatusInactive, PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U",
		PasswordVersion: 1, CreatedAt: codecTime, UpdatedAt: codecTime, ActivatedAt: codecTime, LastActiveAt: codecTime.AddDate(0, -4, 0),
		SessionVersion: 2, Version: 3}
}

func sweptEvent() usermgmt.AuditEvent {
	return usermgmt.AuditEvent{ID: "01900000-0000-7000-9000-000000012345", At: codecTime, ActorID: usermgmt.System,
		Action: usermgmt.ActionInactive, UserID: "01900000-0000-7000-8000-000000012345", AccountID: "01900000-0000-7000-8000-a00000000000",
		Changes: []usermgmt.Change{{Field: "status", Old: "active", New: "inactive"}}}
}

// fullUser has every field set, lists included.
func fullUser() usermgmt.UserRecord {
	u := sweptUser()
	u.Department, u.Locale, u.PendingEmail, u.InvitedBy = "Sales", "de-CH", "new\"@x.example", usermgmt.System
	u.Groups = []string{"g1", "g2"}
	u.Grants = []usermgmt.Grant{{Permission: "module", Resource: "insight:1"}, {Permission: "view", Department: "Sales"}}
	u.Tokens = []usermgmt.Token{{Purpose: usermgmt.TokenPasswordReset, Hash: "abc", IssuedAt: codecTime, ExpiresAt: codecTime.Add(time.Hour)}}
	u.AttemptLeases = []usermgmt.AttemptLease{{ID: "lease\\1", Until: codecTime.Add(time.Minute)}}
	u.ResetRequests = []time.Time{codecTime, codecTime.Add(time.Second)}
	u.FailedAttempts, u.InvitedAt, u.LastLoginAt, u.LockedAt = 4, codecTime, codecTime, codecTime.Add(time.Nanosecond)
	return u
}

// TestUserRecordRoundTrip encodes users as the scripts receive them and
// decodes the rec field back, field for field.
func TestUserRecordRoundTrip(t *testing.T) {
	for _, u := range []usermgmt.UserRecord{sweptUser(), fullUser(), {ID: "zero", Version: 1}} {
		var e encoder
		args := e.userRecord(nil, &u)
		if e.err != nil {
			t.Fatal(e.err)
		}
		n := args[0].(int)
		fields := map[string]string{}
		for i := 1; i+1 <= n; i += 2 {
			fields[*args[i].(*string)] = *args[i+1].(*string)
		}
		got, err := decodeUser(fields["rec"])
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, u) {
			t.Fatalf("round trip of %s:\n got %+v\nwant %+v", u.ID, got, u)
		}
	}
}

// TestEventRoundTrip encodes events as stored and decodes them back.
func TestEventRoundTrip(t *testing.T) {
	full := sweptEvent()
	full.ActorEmail, full.GroupID, full.IP, full.UserAgent, full.Reason = "a@x.example", "g1", "192.0.2.1", "Mozilla/5.0 \"x\"", "left\n<the> company & more \u2028"
	full.Changes = append(full.Changes, usermgmt.Change{Field: "name", Old: "é\t\\", New: ""})
	for _, ev := range []usermgmt.AuditEvent{sweptEvent(), full, {ID: "bare", At: codecTime}} {
		var e encoder
		args := e.event(nil, ev, false)
		if e.err != nil {
			t.Fatal(e.err)
		}
		got, err := decodeEvent(*args[3].(*string))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, ev) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, ev)
		}
	}
}

// BenchmarkEncodeSweepUpdate is the Go side of one user's update in the
// sweep's batch: its record and its event, as sent to update.lua.
func BenchmarkEncodeSweepUpdate(b *testing.B) {
	u, ev := sweptUser(), sweptEvent()
	args := make([]any, 0, 64)
	for b.Loop() {
		var e encoder
		args = e.event(args[:0], ev, false)
		args = e.userRecord(args, &u)
		if e.err != nil {
			b.Fatal(e.err)
		}
	}
}

// BenchmarkDecodeUser is the Go side of reading one user: its record.
func BenchmarkDecodeUser(b *testing.B) {
	u := sweptUser()
	var e encoder
	args := e.userRecord(nil, &u)
	rec := *args[len(args)-1].(*string)
	for b.Loop() {
		if _, err := decodeUser(rec); err != nil {
			b.Fatal(err)
		}
	}
}
