package sqliteoutbox

import (
	"context"
	_ "embed"
	"fmt"
	"strings"

	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitemigrate"
	"github.com/bulwark-go/bulwark/internal/sqlident"
	"github.com/bulwark-go/bulwark/internal/sqlmigrate"
)

// Migration is one versioned step of the schema: its Version, a Name
// saying what it does, and its SQL (see Migrations).
type Migration = sqlitemigrate.Migration

// migrateSQL is step 1, the schema of the release before migrations were
// versioned.
//
//go:embed migrate.sql
var migrateSQL string

// Migrations returns the steps that Migrate runs for an outbox configured by
// cfg, in order, with cfg's names in their SQL, or the error New returns
// for cfg. To run them with a migration tool of your own (goose, atlas),
// run each step's SQL once, in order, in a transaction: the step records
// itself in bulwark_migrations, so a later Migrate runs only newer steps.
// The steps:
//
//  1. create the tables and indexes (as the release before versioned
//     migrations did, which Migrate thus adopts: tables and rows kept).
func Migrations(cfg Config) ([]Migration, error) { return sqlmigrate.Of(newSchema(cfg)) }

// Migrate brings the schema to the latest version: it runs the steps of
// Migrations that the database has not recorded, in order, each in a write
// transaction (BEGIN IMMEDIATE) with its record, so it is safe to run at
// every start from several processes sharing the file at once. A database
// migrated by a later release is left as it is.
func (s *Store) Migrate(ctx context.Context) error {
	s.check()
	return sqlitemigrate.Run(ctx, s.db, "sqliteoutbox", s.table, s.migrations)
}

// schema is an outbox's configuration with its defaults filled in and the
// names of its indexes.
type schema struct {
	cfg                                             Config
	pending, key, retry, published, deadKey, deadID string
}

func newSchema(cfg Config) (schema, error) {
	def := DefaultConfig()
	if cfg.Table == "" {
		cfg.Table = def.Table
	}
	if cfg.DeadLetterTable == "" {
		cfg.DeadLetterTable = def.DeadLetterTable
	}
	n := sqlident.NewNames("sqliteoutbox", sqlident.SQLite)
	for _, f := range []struct{ name, value string }{{"Table", cfg.Table}, {"DeadLetterTable", cfg.DeadLetterTable}} {
		if err := sqlident.Check("sqliteoutbox: Config."+f.name, f.value); err != nil {
			return schema{}, err
		}
		if strings.Contains(f.value, ".") {
			return schema{}, fmt.Errorf("sqliteoutbox: Config.%s must be a plain table name, got %q", f.name, f.value)
		}
	}
	if cfg.DeadLetterTable == cfg.Table {
		return schema{}, fmt.Errorf("sqliteoutbox: Config.DeadLetterTable must differ from Table, both are %q", cfg.Table)
	}
	n.Table("Table", cfg.Table)
	n.Table("DeadLetterTable", cfg.DeadLetterTable)
	t, d := cfg.Table, cfg.DeadLetterTable
	sc := schema{
		cfg:       cfg,
		pending:   n.Derived("Table", t, "pending"),
		key:       n.Derived("Table", t, "key"),
		retry:     n.Derived("Table", t, "retry"),
		published: n.Derived("Table", t, "published"),
		deadKey:   n.Derived("DeadLetterTable", d, "key"),
		deadID:    n.Derived("DeadLetterTable", d, "id"),
	}
	return sc, n.Err()
}

// replacer fills in the placeholders of the package's SQL.
func (sc schema) replacer() *strings.Replacer {
	return strings.NewReplacer(
		"{{table}}", sqlident.Quote(sc.cfg.Table),
		"{{dead_table}}", sqlident.Quote(sc.cfg.DeadLetterTable),
		"{{pending_index}}", sqlident.Quote(sc.pending),
		"{{key_index}}", sqlident.Quote(sc.key),
		"{{retry_index}}", sqlident.Quote(sc.retry),
		"{{published_index}}", sqlident.Quote(sc.published),
		"{{dead_key_index}}", sqlident.Quote(sc.deadKey),
		"{{dead_id_index}}", sqlident.Quote(sc.deadID),
	)
}

func (sc schema) Migrations() []Migration {
	return sqlitemigrate.Build("sqliteoutbox", sc.cfg.Table, []Migration{
		{Version: 1, Name: "create the tables and indexes", SQL: sc.replacer().Replace(migrateSQL)},
	})
}
