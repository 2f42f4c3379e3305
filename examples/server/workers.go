package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/usermgmt/usermgmt"
)

// workers are the server's background loops: the outbox delivery worker,
// which sends the emails changes queue, and the inactivity sweeper, which
// moves users without activity for three months to Inactive (and lifts
// locks that lapse, under Policy.LockDuration).
type workers struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startWorkers starts the workers under their own context, so that a
// shutdown can stop them after the HTTP server has drained: the emails of
// the last requests are still sent.
func startWorkers(m *usermgmt.Manager, c config, log *slog.Logger) *workers {
	ctx, cancel := context.WithCancel(context.Background())
	w := &workers{cancel: cancel}
	run := func(name string, f func(context.Context) error) {
		w.wg.Go(func() {
			if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("worker stopped", "worker", name, "error", err)
			}
		})
	}
	run("delivery", func(ctx context.Context) error {
		return m.RunDelivery(ctx, usermgmt.DeliveryOptions{PollInterval: c.DeliveryPoll})
	})
	run("sweeper", func(ctx context.Context) error {
		return m.RunSweeper(ctx, usermgmt.SweeperOptions{Interval: c.SweepInterval})
	})
	return w
}

// stop stops the workers and waits for them. A message being sent when
// stop is called may be cut short; its lease lapses and the next worker
// sends it again.
func (w *workers) stop() {
	w.cancel()
	w.wg.Wait()
}
