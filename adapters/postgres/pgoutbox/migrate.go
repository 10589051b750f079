package pgoutbox

import (
	"context"
	_ "embed"
	"fmt"
	"strings"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgmigrate"
	"github.com/bulwark-go/bulwark/internal/sqlident"
	"github.com/bulwark-go/bulwark/internal/sqlmigrate"
)

// Migration is one versioned step of the schema: its Version, a Name
// saying what it does, and its SQL (see Migrations).
type Migration = pgmigrate.Migration

// migrateSQL is step 1, the schema of the release before migrations were
// versioned; step 2 renders it again with the names that fit.
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
//  1. create the tables, indexes and notify trigger (as the release before
//     versioned migrations did, which Migrate thus adopts: tables and
//     data kept, missing objects created);
//  2. give the indexes, notify function and trigger names that fit in 63
//     bytes, for tables named so long that PostgreSQL cut the names step 1
//     derives from them (several indexes came out one name and were
//     skipped); nothing to do for shorter names.
func Migrations(cfg Config) ([]Migration, error) { return sqlmigrate.Of(newSchema(cfg)) }

// Migrate brings the schema to the latest version: it runs the steps of
// Migrations that the database has not recorded, in order, each in a
// transaction with its record, holding the advisory lock that all bulwark
// migrations take, so it is safe to run at every start from several
// processes at once. A database migrated by a later release is left as it
// is.
func (s *Store) Migrate(ctx context.Context) error {
	s.check()
	return pgmigrate.Run(ctx, s.pool, "pgoutbox", s.lockNS, s.migrations)
}

// schema is an outbox's configuration with its defaults filled in and the
// names of the objects its migrations make.
type schema struct {
	cfg Config
	// names are the objects' names by sqlident's rule; legacy are those
	// the release before it derived, which PostgreSQL cut at 63 bytes.
	names, legacy objects
}

// objects are the names, without schema, of what Migrate makes beside the
// tables.
type objects struct {
	pending, key, retry, published string // indexes of Table
	deadKey, deadID                string // indexes of DeadLetterTable
	notify                         string // notify function and trigger
}

func newSchema(cfg Config) (schema, error) {
	def := DefaultConfig()
	if cfg.Table == "" {
		cfg.Table = def.Table
	}
	if cfg.DeadLetterTable == "" {
		cfg.DeadLetterTable = def.DeadLetterTable
	}
	if cfg.Channel == "" {
		_, cfg.Channel = sqlident.Split(cfg.Table)
	}
	n := sqlident.NewNames("pgoutbox", sqlident.Postgres)
	n.Table("Table", cfg.Table)
	if n.Err() == nil && cfg.DeadLetterTable == cfg.Table {
		return schema{}, fmt.Errorf("pgoutbox: Config.DeadLetterTable must differ from Table, both are %q", cfg.Table)
	}
	n.Table("DeadLetterTable", cfg.DeadLetterTable)
	if err := n.Err(); err != nil {
		return schema{}, err
	}
	if err := sqlident.Check("pgoutbox: Config.Channel", cfg.Channel); err != nil || strings.Contains(cfg.Channel, ".") {
		return schema{}, fmt.Errorf("pgoutbox: Config.Channel must be letters, digits and underscores, got %q", cfg.Channel)
	}
	derive := func(setting, table, suffix string) string { return n.Derived(setting, table, suffix) }
	names := objectsOf(cfg, derive)
	if err := n.Err(); err != nil {
		return schema{}, err
	}
	legacy := objectsOf(cfg, func(_, table, suffix string) string {
		_, base := sqlident.Split(table)
		return sqlident.Derive(base, suffix, 0)
	})
	return schema{cfg: cfg, names: names, legacy: legacy}, nil
}

func objectsOf(cfg Config, derive func(setting, table, suffix string) string) objects {
	t, d := cfg.Table, cfg.DeadLetterTable
	return objects{
		pending:   derive("Table", t, "pending"),
		key:       derive("Table", t, "key"),
		retry:     derive("Table", t, "retry"),
		published: derive("Table", t, "published"),
		deadKey:   derive("DeadLetterTable", d, "key"),
		deadID:    derive("DeadLetterTable", d, "id"),
		notify:    derive("Table", t, "notify"),
	}
}

// replacer fills in the placeholders of the package's SQL, with o's names
// for the objects beside the tables.
func (sc schema) replacer(o objects) *strings.Replacer {
	tableSchema, _ := sqlident.Split(sc.cfg.Table)
	return strings.NewReplacer(
		"{{table}}", sqlident.Quote(sc.cfg.Table),
		"{{dead_table}}", sqlident.Quote(sc.cfg.DeadLetterTable),
		"{{pending_index}}", sqlident.Quote(o.pending),
		"{{key_index}}", sqlident.Quote(o.key),
		"{{retry_index}}", sqlident.Quote(o.retry),
		"{{published_index}}", sqlident.Quote(o.published),
		"{{dead_key_index}}", sqlident.Quote(o.deadKey),
		"{{dead_id_index}}", sqlident.Quote(o.deadID),
		"{{notify_function}}", sqlident.Quote(sqlident.Qualify(tableSchema, o.notify)),
		"{{notify_trigger}}", sqlident.Quote(o.notify),
		"{{channel}}", sc.cfg.Channel,
	)
}

func (sc schema) Migrations() []Migration {
	return pgmigrate.Build("pgoutbox", sc.cfg.Table, []Migration{
		{Version: 1, Name: "create the tables, indexes and notify trigger", SQL: sc.replacer(sc.legacy).Replace(migrateSQL)},
		{Version: 2, Name: "name the indexes, notify function and trigger to fit in 63 bytes", SQL: sc.rename()},
	})
}

// rename is step 2 (see pgmigrate.RenameStep).
func (sc schema) rename() string {
	old, now := sc.legacy, sc.names
	table, dead := sqlident.Quote(sc.cfg.Table), sqlident.Quote(sc.cfg.DeadLetterTable)
	var trigger string
	if old.notify != now.notify {
		tableSchema, _ := sqlident.Split(sc.cfg.Table)
		cut := pgmigrate.Cut(old.notify)
		// The function goes only when no trigger uses it: outboxes whose
		// names share a long prefix shared it.
		fn := sqlident.Quote(sqlident.Qualify(tableSchema, cut)) + "()"
		trigger = fmt.Sprintf(`DROP TRIGGER IF EXISTS %s ON %s;
DO $migrate$
BEGIN
	IF to_regprocedure(%s) IS NOT NULL AND NOT EXISTS (SELECT FROM pg_trigger WHERE tgfoid = to_regprocedure(%s)) THEN
		DROP FUNCTION %s;
	END IF;
END
$migrate$;
`, sqlident.Quote(cut), table, pgmigrate.Literal(fn), pgmigrate.Literal(fn), fn)
	}
	return pgmigrate.RenameStep(old != now, sc.replacer(now).Replace(migrateSQL), trigger,
		pgmigrate.DropRenamedIndexes(table, [][2]string{
			{old.pending, now.pending}, {old.key, now.key}, {old.retry, now.retry}, {old.published, now.published},
		}),
		pgmigrate.DropRenamedIndexes(dead, [][2]string{{old.deadKey, now.deadKey}, {old.deadID, now.deadID}}))
}
