package sqliteoutbox_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitetest"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteoutbox"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/outbox/outboxtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newStore(t *testing.T) (*sqliteoutbox.Store, *sql.DB) {
	t.Helper()
	db := sqlitetest.Open(t)
	s, err := sqliteoutbox.New(db, sqliteoutbox.Config{})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	require.NoError(t, s.Migrate(context.Background()), "Migrate is idempotent")
	return s, db
}

func enqueueTx(s *sqliteoutbox.Store, db *sql.DB) func(context.Context, ...outbox.Message) error {
	return func(ctx context.Context, msgs ...outbox.Message) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := s.Enqueue(ctx, tx, msgs...); err != nil {
			return err
		}
		return tx.Commit()
	}
}

func TestConformance(t *testing.T) {
	outboxtest.Run(t, func(t *testing.T) outboxtest.Harness {
		s, db := newStore(t)
		return outboxtest.Harness{Store: s, Enqueue: enqueueTx(s, db)}
	})
}

func TestConfigValidation(t *testing.T) {
	db := &sql.DB{}
	for _, tc := range []struct {
		change func(*sqliteoutbox.Config)
		want   string
	}{
		{func(c *sqliteoutbox.Config) { c.Table = "a-b" }, `sqliteoutbox: Config.Table: "a-b"`},
		{func(c *sqliteoutbox.Config) { c.Table = "main.outbox" }, `sqliteoutbox: Config.Table must be a plain table name, got "main.outbox"`},
		{func(c *sqliteoutbox.Config) { c.DeadLetterTable = "outbox_messages" }, "sqliteoutbox: Config.DeadLetterTable must differ from Table"},
		{func(c *sqliteoutbox.Config) { c.DeadLetterTable = "OUTBOX_MESSAGES" }, "sqliteoutbox: Config.Table and Config.DeadLetterTable would both be named"},
		{func(c *sqliteoutbox.Config) { c.Table, c.DeadLetterTable = "o", "o_KEY" },
			`sqliteoutbox: Config.DeadLetterTable and the "key" object derived from Config.Table would both be named "o_key"`},
		{func(c *sqliteoutbox.Config) { c.Table = strings.Repeat("t", 64) }, "is 64 bytes long, 1 more than the 63 allowed"},
	} {
		var cfg sqliteoutbox.Config
		tc.change(&cfg)
		_, err := sqliteoutbox.New(db, cfg)
		assert.ErrorContains(t, err, tc.want)
	}
	_, err := sqliteoutbox.New(nil, sqliteoutbox.Config{})
	assert.EqualError(t, err, "sqliteoutbox: New: db must not be nil")
	_, err = sqliteoutbox.New(db, sqliteoutbox.Config{})
	require.NoError(t, err)
	zero, err := sqliteoutbox.Migrations(sqliteoutbox.Config{})
	require.NoError(t, err)
	def, err := sqliteoutbox.Migrations(sqliteoutbox.DefaultConfig())
	require.NoError(t, err)
	assert.Equal(t, def, zero, "the zero Config is DefaultConfig")
	assert.PanicsWithValue(t, "sqliteoutbox: Store used without New", func() { _, _ = new(sqliteoutbox.Store).Stats(context.Background()) })
}

// FuzzNew: any table names give an error or a store whose migration names
// them, never a panic.
func FuzzNew(f *testing.F) {
	for _, seed := range [][2]string{{"", ""}, {"outbox", "dead"}, {"a-b", "c"}, {"x", "x"}, {"main.t", ""}, {"t\x00", "d"}, {"\"", "'"}} {
		f.Add(seed[0], seed[1])
	}
	db := &sql.DB{}
	f.Fuzz(func(t *testing.T, table, dead string) {
		cfg := sqliteoutbox.Config{Table: table, DeadLetterTable: dead}
		_, err := sqliteoutbox.New(db, cfg)
		m, merr := sqliteoutbox.Migrations(cfg)
		if err != nil {
			assert.True(t, strings.HasPrefix(err.Error(), "sqliteoutbox: "), err.Error())
			assert.Equal(t, err, merr, "Migrations refuses what New refuses")
			return
		}
		require.NoError(t, merr)
		if table != "" {
			assert.Contains(t, m[0].SQL, table)
		}
	})
}

func TestRolledBackEnqueueIsNeverPublished(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, s.Enqueue(ctx, tx, outbox.Message{Topic: "t", Key: "a"}))
	require.NoError(t, tx.Rollback())
	st, err := s.Stats(ctx)
	require.NoError(t, err)
	assert.Zero(t, st.Pending)
}

// TestLeaseExpiresAndLateFinishIsLost: a claim whose relay died holds its
// keys only until the lease runs out; its late Finish records nothing.
func TestLeaseExpiresAndLateFinishIsLost(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	require.NoError(t, enqueueTx(s, db)(ctx, outbox.Message{Topic: "t", Key: "a"}, outbox.Message{Topic: "t", Key: "a"}))
	now := time.Now()
	claim := func(at time.Time) outbox.Batch {
		b, err := s.Claim(ctx, outbox.ClaimRequest{Limit: 10, Now: at, Lease: time.Minute})
		require.NoError(t, err)
		return b
	}
	first := claim(now)
	require.Len(t, first.Messages(), 2)
	held := claim(now.Add(time.Minute - time.Millisecond))
	assert.Empty(t, held.Messages())
	assert.True(t, held.Contended())
	second := claim(now.Add(time.Minute))
	require.Len(t, second.Messages(), 2, "taken over once the lease ran out")
	assert.ErrorIs(t, first.Finish(ctx, outbox.Outcome{Now: now, Published: []int{0, 1}}), outbox.ErrClaimLost)
	require.NoError(t, second.Finish(ctx, outbox.Outcome{Now: now, Published: []int{0}}))
	st, err := s.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Pending, "only the second claim's outcome was recorded")
}

// TestRelayEndToEnd runs a relay (polling) on the store.
func TestRelayEndToEnd(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	pub := outbox.NewMemoryPublisher()
	r, err := outbox.NewRelay(s, pub, outbox.Config{PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	for i := range 20 {
		require.NoError(t, enqueueTx(s, db)(ctx, outbox.Message{Topic: "t", Key: []string{"a", "b"}[i%2], Payload: []byte{byte(i)}}))
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, pub.WaitFor(wctx, 20))
	require.NoError(t, r.Close(ctx))
	require.NoError(t, <-done)
	last := map[string]int{"a": -1, "b": -1}
	for _, m := range pub.Messages() {
		assert.Greater(t, int(m.Payload[0]), last[m.Key], "key %s out of order", m.Key)
		last[m.Key] = int(m.Payload[0])
	}
}
