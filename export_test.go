package usermgmt

import "time"

// Hooks for the external tests.

// Backoff exposes the delivery worker's retry delay.
func Backoff(base, max time.Duration, n int) time.Duration { return backoff(base, max, n) }

// Jitter exposes the worker loops' jittered wait.
func Jitter(d time.Duration) time.Duration { return jitter(d) }

// CleanErr exposes the cleaning of store errors.
func CleanErr(err error) error { return cleanErr(err) }

// IdleBound exposes the sweep's candidate bound.
func IdleBound(m *Manager, now time.Time) time.Time { return m.idleBound(now) }

// Idle exposes the inactivity rule.
func Idle(m *Manager, lastActive, now time.Time) bool {
	return m.idle(UserRecord{LastActiveAt: lastActive}, now)
}

// Seal and Open expose the outbox's sealing.
func Seal(m *Manager, n Notification) ([]byte, error) { return m.outbox.seal(n) }

// Open opens the payload of a message, checked against its row's fields.
func Open(m *Manager, msg Message) (Notification, error) { return m.outbox.open(msg) }

// SealedFields and ReadSealedFields expose the plaintext layout of a
// sealed payload to the fuzz test.
func SealedFields(n Notification) []byte              { return appendSealedFields(nil, n) }
func ReadSealedFields(b []byte, n *Notification) bool { return readSealedFields(b, n) }

// VerifyPassword verifies a password against an encoded hash with m's hasher.
func VerifyPassword(m *Manager, password, encoded string) (ok, stale bool, err error) {
	m.hasher.slots <- struct{}{}
	defer m.hasher.release()
	v := m.hasher.verifyHeld(password, encoded)
	return v.ok, v.stale, v.err
}

// HashPassword hashes an already normalised password with m's parameters.
func HashPassword(m *Manager, password string) string {
	h, err := m.hasher.hashHeld(password)
	if err != nil {
		panic(err)
	}
	return h
}

// SetDeadMessageScan changes how many dead letters one DeadMessages call
// reads, until the test ends.
func SetDeadMessageScan(t interface{ Cleanup(func()) }, n int) {
	old := deadMessageScan
	deadMessageScan = n
	t.Cleanup(func() { deadMessageScan = old })
}
