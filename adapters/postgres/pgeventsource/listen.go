package pgeventsource

import (
	"context"
	"fmt"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pglisten"
)

// Listen implements eventsource.Listener: it opens a connection of its own
// (with the pool's settings), LISTENs on Config.Channel, calls wake once,
// then once per notification, until ctx is done or the connection fails.
// Commits of this Store's Append wake it at once, without waiting for their
// NOTIFY (which other processes get within a few milliseconds).
func (s *Store) Listen(ctx context.Context, wake func()) error {
	s.check()
	defer s.announcer.listen(wake)()
	if err := pglisten.Run(ctx, s.pool.Config().ConnConfig, s.sql.listen, wake); err != nil && ctx.Err() == nil {
		return fmt.Errorf("pgeventsource: %w", err)
	}
	return ctx.Err()
}
