package redisstore_test

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/usermgmt/usermgmt/store/redisstore"
)

// TestNewRefuses checks the clients New turns away, with a message that
// says why. None of them dials a server.
func TestNewRefuses(t *testing.T) {
	const addr = "127.0.0.1:1" // never dialled
	cases := []struct {
		name   string
		client redis.UniversalClient
		want   string
	}{
		{"nil", nil, "nil client"},
		{"without ContextTimeoutEnabled", redis.NewClient(&redis.Options{Addr: addr}), "ContextTimeoutEnabled"},
		{"cluster", redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}}), "Cluster is not supported"},
		{"ring", redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": addr}}), "Ring is not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.client != nil {
				defer c.client.Close()
			}
			s, err := redisstore.New(c.client, redisstore.Options{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New = %v, %v; want an error mentioning %q", s, err, c.want)
			}
		})
	}
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	defer c.Close()
	s, err := redisstore.New(c, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Prefix() != "usermgmt:" {
		t.Fatalf("default prefix %q, want usermgmt:", s.Prefix())
	}
}
