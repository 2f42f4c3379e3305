package httpapi

import (
	"container/list"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Limiter decides whether a request keyed by key (a client address, a
// target email) may go on. A refusal says how long to wait before trying
// again (the Retry-After header). Implementations must be safe for
// concurrent use; one shared by many instances (Redis, say) lets a limit
// hold across them.
type Limiter interface {
	Allow(key string) (ok bool, retryAfter time.Duration)
}

// LimiterConfig configures a MemoryLimiter.
type LimiterConfig struct {
	// Burst is how many requests a key may make at once. Default 10.
	Burst int
	// Every is how often a key earns one more request, up to Burst.
	// Default 6 seconds (10 a minute).
	Every time.Duration
	// MaxKeys bounds the keys remembered; past it the key seen least
	// recently is forgotten (its next request starts with a full bucket).
	// Default 100,000.
	MaxKeys int
	// Now is the clock; default time.Now. Tests pass a fake one.
	Now func() time.Time
}

// MemoryLimiter is a token bucket per key, in memory, with bounded memory:
// it remembers at most MaxKeys keys, forgetting the least recently seen.
type MemoryLimiter struct {
	cfg  LimiterConfig
	mu   sync.Mutex
	keys map[string]*list.Element
	lru  *list.List // front: most recently seen
}

type bucket struct {
	key    string
	tokens float64
	at     time.Time
}

// NewMemoryLimiter returns an in-memory token-bucket Limiter.
func NewMemoryLimiter(cfg LimiterConfig) *MemoryLimiter {
	if cfg.Burst <= 0 {
		cfg.Burst = 10
	}
	if cfg.Every <= 0 {
		cfg.Every = 6 * time.Second
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 100_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &MemoryLimiter{cfg: cfg, keys: map[string]*list.Element{}, lru: list.New()}
}

// Allow takes one request from key's bucket.
func (l *MemoryLimiter) Allow(key string) (bool, time.Duration) {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.keys[key]
	if !ok {
		if l.lru.Len() >= l.cfg.MaxKeys {
			old := l.lru.Back()
			delete(l.keys, old.Value.(*bucket).key)
			l.lru.Remove(old)
		}
		e = l.lru.PushFront(&bucket{key: key, tokens: float64(l.cfg.Burst), at: now})
		l.keys[key] = e
	} else {
		l.lru.MoveToFront(e)
	}
	b := e.Value.(*bucket)
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(float64(l.cfg.Burst), b.tokens+float64(elapsed)/float64(l.cfg.Every))
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) * float64(l.cfg.Every))
	return false, wait
}

// Len returns how many keys the limiter remembers.
func (l *MemoryLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// allow applies a limiter, answering a refusal with 429 and Retry-After.
func (h *Handler) allow(_ http.ResponseWriter, l Limiter, key string) error {
	ok, wait := l.Allow(key)
	if ok {
		return nil
	}
	return &httpError{status: http.StatusTooManyRequests, code: "rate_limited", title: "too many requests; try again later",
		retryAfter: wait}
}

// AddressKey returns the key the handler's AddressLimiter counts a client
// address under, for an application's own limits (a login form's, say):
// an IPv4 address (or an IPv4-mapped IPv6 one) as itself, an IPv6 address
// by its /64 prefix ("ip:2001:db8:1:2::/64"). One end site is given a /64 or more (RFC 6177), so a client
// holds every address of its /64 and keying by the whole address would
// give it 2^64 buckets. Anything else ClientIP returns is its own key.
func AddressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "ip:" + ip
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return "ip:" + a.String()
	}
	p, _ := a.Prefix(64) // cannot fail for an IPv6 address
	return "ip:" + p.String()
}

// RemoteIP returns the address of the connection's peer, without the port.
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ForwardedClientIP returns a ClientIP function for a handler behind
// proxies: when the peer lies in one of the trusted prefixes, the client is
// the right-most address of X-Forwarded-For that is not itself trusted;
// otherwise the peer. X-Forwarded-For from an untrusted peer is ignored, so
// that a client cannot choose its own address.
func ForwardedClientIP(trusted ...netip.Prefix) func(*http.Request) string {
	isTrusted := func(s string) bool {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return false
		}
		a = a.Unmap()
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) string {
		peer := RemoteIP(r)
		if !isTrusted(peer) {
			return peer
		}
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop := strings.TrimSpace(hops[i])
			if hop == "" {
				continue
			}
			if _, err := netip.ParseAddr(hop); err != nil {
				return peer // a malformed chain: trust nothing in it
			}
			if !isTrusted(hop) {
				return hop
			}
		}
		return peer
	}
}
