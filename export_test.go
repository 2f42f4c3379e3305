package usermgmt

import (
	"context"
	"time"
)

// Hooks for the external tests.

// HoldHashSlots takes n of the Manager's hash slots until release is called.
func HoldHashSlots(m *Manager, n int) (release func()) {
	for i := 0; i < n; i++ {
		m.hasher.slots <- struct{}{}
	}
	return func() {
		for i := 0; i < n; i++ {
			<-m.hasher.slots
		}
	}
}

// IdleBound exposes the sweep's candidate bound.
func IdleBound(m *Manager, now time.Time) time.Time { return m.idleBound(now) }

// Idle exposes the inactivity rule.
func Idle(m *Manager, lastActive, now time.Time) bool {
	return m.idle(User{LastActiveAt: lastActive}, now)
}

// HashForTest hashes a password with the Manager's parameters.
func HashForTest(m *Manager, password string) string {
	h, err := m.hasher.hash(context.Background(), password)
	if err != nil {
		panic(err)
	}
	return h
}

// Verify exposes password verification.
func Verify(m *Manager, password, encoded string) (ok, stale bool, err error) {
	if err := m.hasher.acquire(context.Background()); err != nil {
		return false, false, err
	}
	defer m.hasher.release()
	return m.hasher.verifyHeld(password, encoded)
}
