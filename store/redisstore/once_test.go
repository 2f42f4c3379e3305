package redisstore_test

import (
	"bytes"
	"context"
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

// TestLostReplyNotRetried: when the reply to a write script is lost, the
// store reports the error and does not run the script again. With
// go-redis's default retries (kept on in this client) a second run would
// reserve two attempts for one login.
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
	m, err := usermgmt.New(s)
	if err != nil {
		t.Fatal(err)
	}
	_, created, err := m.CreateAccount(ctx, usermgmt.System, usermgmt.NewAccount{Name: "Lost",
		Admin: usermgmt.NewUser{Email: "lost@example.com", FirstName: "L", LastName: "R", Password: "correct horse battery staple"}})
	if err != nil {
		t.Fatal(err)
	}

	// One reservation heard back (Redis now has the script cached, so the
	// next call is one EVALSHA), then one whose reply is lost.
	if _, _, err := s.ReserveAttempt(ctx, created.User.ID, 10); err != nil {
		t.Fatal(err)
	}
	proxy.armed.Store(true)
	if _, _, err := s.ReserveAttempt(ctx, created.User.ID, 10); err == nil {
		t.Fatal("ReserveAttempt succeeded although its reply was lost")
	}
	u, err := s.User(ctx, created.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.FailedAttempts != 2 {
		t.Fatalf("failed attempts = %d after two reservations, the second's reply lost; want 2", u.FailedAttempts)
	}
}
