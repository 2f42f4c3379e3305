package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usermgmt/usermgmt"
)

// replyDropper is a TCP proxy in front of the test server that, once armed,
// lets the next EVALSHA through to Redis and then cuts the connection
// instead of passing the reply back: the write happened, the client never
// hears of it.
type replyDropper struct {
	ln    net.Listener
	armed atomic.Bool
	wg    sync.WaitGroup
}

func newReplyDropper(t *testing.T, upstream string) *replyDropper {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &replyDropper{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			p.wg.Add(1)
			go p.pipe(c, s)
		}
	}()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *replyDropper) pipe(client, server net.Conn) {
	defer p.wg.Done()
	var swallow atomic.Bool
	done := make(chan struct{})
	go func() { // replies, unless this one is to be lost
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			if err != nil || swallow.Load() {
				client.Close()
				return
			}
			if _, err := client.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := client.Read(buf)
		if err != nil {
			break
		}
		if bytes.Contains(bytes.ToLower(buf[:n]), []byte("evalsha")) && p.armed.CompareAndSwap(true, false) {
			swallow.Store(true)
		}
		if _, err := server.Write(buf[:n]); err != nil {
			break
		}
	}
	server.Close()
	<-done
}

// TestLostReplyNotRetried: when the reply to a writing script is lost, the
// store reports the error and does not run the script again. With
// go-redis's default retries (kept on in this client) a second run would
// reserve two attempts for one login, and report a create as a duplicate of
// itself.
func TestLostReplyNotRetried(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	proxy := newReplyDropper(t, serverOptions.Addr)
	c := redis.NewClient(&redis.Options{Addr: proxy.ln.Addr().String(), ContextTimeoutEnabled: true}) // MaxRetries: 3
	t.Cleanup(func() { c.Close() })
	s := storeOn(t, c) // its keys are deleted through the proxy, which outlives c
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := usermgmt.New(s, usermgmt.WithHashParams(cheap))
	if err != nil {
		t.Fatal(err)
	}
	_, created, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Lost",
		Admin: usermgmt.NewUser{Email: "lost@example.com", FirstName: "L", LastName: "R", Password: password}})
	if err != nil {
		t.Fatal(err)
	}
	reserve := func(lease string) error {
		_, _, err := s.ReserveAttempt(ctx, usermgmt.AttemptReservation{UserID: created.User.ID, Limit: 10, Now: t0,
			Lease: usermgmt.AttemptLease{ID: lease, Until: t0.Add(time.Minute)}})
		return err
	}

	// One reservation heard back (Redis now has the script cached, so the
	// next call is one EVALSHA), then one whose reply is lost.
	if err := reserve("first"); err != nil {
		t.Fatal(err)
	}
	proxy.armed.Store(true)
	err = reserve("second")
	if err == nil {
		t.Fatal("ReserveAttempt succeeded although its reply was lost")
	}
	if !errors.Is(err, usermgmt.ErrStore) || err.Error() != usermgmt.ErrStore.Error() {
		t.Fatalf("lost reply: %v, want exactly ErrStore's text", err)
	}
	u, err := s.User(ctx, created.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.AttemptLeases) != 2 {
		t.Fatalf("%d attempt leases after two reservations, the second's reply lost; want 2", len(u.AttemptLeases))
	}

	// The batch update too: the sweep's UpdateUsers is one script. One
	// update heard back caches it, then one whose reply is lost.
	update := func(n int, name string) ([]error, error) {
		up := usermgmt.UserUpdate{User: u, Event: usermgmt.AuditEvent{ID: fmt.Sprint("lost-reply-event-", n), At: t0, ActorID: usermgmt.System,
			Action: usermgmt.ActionProfileChange, UserID: u.ID, AccountID: u.AccountID}}
		up.User.FirstName = name
		return s.UpdateUsers(ctx, []usermgmt.UserUpdate{up})
	}
	if errs, err := update(1, "Heard"); err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	u.Version++
	proxy.armed.Store(true)
	if _, err := update(2, "Renamed"); err == nil {
		t.Fatal("UpdateUsers succeeded although its reply was lost")
	}
	u2, err := s.User(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u2.Version != u.Version+1 || u2.FirstName != "Renamed" {
		t.Fatalf("after the lost reply: version %d, first name %q; want the update applied once (version %d)", u2.Version, u2.FirstName, u.Version+1)
	}
	checkLayout(t, s)
}
