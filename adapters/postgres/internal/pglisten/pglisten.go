// Package pglisten wakes a waiting process when PostgreSQL sends a
// notification, for the stores that trade polling for LISTEN/NOTIFY.
package pglisten

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Run opens a connection of its own with cfg (a pool's settings, usually),
// runs listenSQL (a LISTEN statement), calls wake once, then once per
// notification, until ctx is done (it returns ctx.Err()) or the connection
// fails (it returns the error). The connection is closed on return.
func Run(ctx context.Context, cfg *pgx.ConnConfig, listenSQL string, wake func()) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, listenSQL); err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("waiting for notifications: %w", err)
		}
		wake()
	}
}
