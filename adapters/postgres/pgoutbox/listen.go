package pgoutbox

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Listen implements outbox.Listener: it opens a connection of its own (with
// the pool's settings), LISTENs on Config.Channel, calls wake once, then
// once per notification, until ctx is done or the connection fails.
func (s *Store) Listen(ctx context.Context, wake func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig)
	if err != nil {
		return fmt.Errorf("pgoutbox: listening: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, s.sql.listen); err != nil {
		return fmt.Errorf("pgoutbox: listening: %w", err)
	}
	wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("pgoutbox: waiting for notifications: %w", err)
		}
		wake()
	}
}
