package sqlident_test

import (
	"strings"
	"testing"

	"github.com/bulwark-go/bulwark/internal/sqlident"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, wantErr string
	}{
		{name: "outbox"},
		{name: "app.outbox_messages"},
		{name: "_t1"},
		{name: strings.Repeat("a", 63) + "." + strings.Repeat("b", 63)},
		{name: "", wantErr: "must not be empty"},
		{name: "a.b.c", wantErr: "more than one dot"},
		{name: "1table", wantErr: "starts with a digit"},
		{name: "app.", wantErr: "empty name part"},
		{name: `x"; drop table users; --`, wantErr: "only letters, digits and _"},
		{name: "tâble", wantErr: "only letters, digits and _"},
		{name: strings.Repeat("a", 64), wantErr: "is 64 bytes long, 1 more than the 63 allowed"},
		{name: "app." + strings.Repeat("a", 70), wantErr: "is 70 bytes long, 7 more than the 63 allowed"},
	} {
		err := sqlident.Check("Table", tc.name)
		if tc.wantErr == "" {
			assert.NoError(t, err, tc.name)
			continue
		}
		if assert.Error(t, err, tc.name) {
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.Contains(t, err.Error(), "Table:", "the error names the setting")
		}
	}
}

func TestQuoteSplitQualify(t *testing.T) {
	assert.Equal(t, `"outbox"`, sqlident.Quote("outbox"))
	assert.Equal(t, `"app"."outbox"`, sqlident.Quote("app.outbox"))
	s, b := sqlident.Split("app.outbox")
	assert.Equal(t, [2]string{"app", "outbox"}, [2]string{s, b})
	s, b = sqlident.Split("outbox")
	assert.Equal(t, [2]string{"", "outbox"}, [2]string{s, b})
	assert.Equal(t, "app.x", sqlident.Qualify("app", "x"))
	assert.Equal(t, "x", sqlident.Qualify("", "x"))
}

// TestDeriveKeepsNamesThatFit: a derived name that fits is the table's
// name, "_" and the suffix, as before the rule existed, so databases made
// with short names keep their objects' names.
func TestDeriveKeepsNamesThatFit(t *testing.T) {
	assert.Equal(t, "outbox_messages_pending", sqlident.Derive("outbox_messages", "pending", 63))
	exact := strings.Repeat("a", 63-len("_key"))
	assert.Equal(t, exact+"_key", sqlident.Derive(exact, "key", 63))
	long := strings.Repeat("a", 63)
	assert.Equal(t, long+"_published", sqlident.Derive(long, "published", 0), "no limit")
}

// TestDeriveShortensWithoutCollisions: names too long are shortened to the
// limit, keep their suffix, and differ for every suffix and for tables
// that share the kept prefix. The values are pinned: databases hold them.
func TestDeriveShortensWithoutCollisions(t *testing.T) {
	a := strings.Repeat("a", 63)
	b := strings.Repeat("a", 62) + "b"
	seen := map[string]bool{}
	for _, base := range []string{a, b, a[:60], a[:55]} {
		for _, suffix := range []string{"pending", "published", "key", "retry", "id", "p", "pkey"} {
			name := sqlident.Derive(base, suffix, 63)
			assert.LessOrEqual(t, len(name), 63, name)
			assert.True(t, strings.HasSuffix(name, "_"+suffix), name)
			assert.False(t, seen[name], "collision: %s", name)
			seen[name] = true
		}
	}
	assert.Equal(t, strings.Repeat("a", 46)+"_7d3e74a0_pending", sqlident.Derive(a, "pending", 63))
	assert.Equal(t, strings.Repeat("a", 46)+"_0085f9f5_pending", sqlident.Derive(b, "pending", 63))
	assert.Len(t, sqlident.Derive(a, "pending", 63), 63)
}

func TestNames(t *testing.T) {
	n := sqlident.NewNames("pgx", sqlident.Postgres)
	n.Table("Table", "app.t")
	n.Table("Other", "app.T")
	assert.Equal(t, "t_key", n.Derived("Table", "app.t", "key"))
	require.NoError(t, n.Err(), "PostgreSQL tells quoted names apart by case")

	n = sqlident.NewNames("sq", sqlident.SQLite)
	n.Table("Table", "t")
	n.Table("Other", "T")
	assert.EqualError(t, n.Err(), `sq: Config.Table and Config.Other would both be named "T"; choose other table names`)

	n = sqlident.NewNames("pgx", sqlident.Postgres)
	n.Table("Table", "t")
	n.Table("DeadLetterTable", "t_key")
	n.Derived("Table", "t", "key")
	assert.EqualError(t, n.Err(), `pgx: Config.DeadLetterTable and the "key" object derived from Config.Table would both be named "t_key"; choose other table names`)

	n = sqlident.NewNames("pgx", sqlident.Postgres)
	n.Table("Table", "a.t")
	n.Table("DeadLetterTable", "b.t_key")
	n.Derived("Table", "a.t", "key")
	assert.NoError(t, n.Err(), "different schemas")

	n = sqlident.NewNames("pgx", sqlident.Postgres)
	n.Table("Table", strings.Repeat("x", 64))
	n.Table("Other", "1")
	assert.ErrorContains(t, n.Err(), "pgx: Config.Table: ", "the first error is kept")
	assert.ErrorContains(t, n.Err(), "1 more than the 63 allowed")
}

// FuzzNames: for any two configured names, Names either refuses them or
// gives every derived object a name that PostgreSQL keeps whole (at most
// 63 bytes) and that no other name of the store has.
func FuzzNames(f *testing.F) {
	for _, seed := range [][2]string{{"t", "d"}, {"app.t", "app.t_key"}, {strings.Repeat("a", 63), strings.Repeat("a", 62) + "b"},
		{"s." + strings.Repeat("x", 63), "s.y"}, {"a", "A"}, {"", "x"}, {"a.b.c", "d"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, table, dead string) {
		n := sqlident.NewNames("x", sqlident.Postgres)
		n.Table("Table", table)
		n.Table("DeadLetterTable", dead)
		var names []string
		for _, suffix := range []string{"pending", "key", "retry", "published", "notify"} {
			names = append(names, n.Derived("Table", table, suffix))
		}
		for _, suffix := range []string{"key", "id"} {
			names = append(names, n.Derived("DeadLetterTable", dead, suffix))
		}
		if n.Err() != nil {
			return
		}
		ts, tb := sqlident.Split(table)
		ds, db := sqlident.Split(dead)
		seen := map[string]bool{sqlident.Qualify(ts, tb): true, sqlident.Qualify(ds, db): true}
		for i, name := range names {
			require.LessOrEqual(t, len(name), sqlident.MaxPostgres, name)
			schema := ts
			if i >= 5 {
				schema = ds
			}
			q := sqlident.Qualify(schema, name)
			require.False(t, seen[q], "%s named twice", q)
			seen[q] = true
		}
	})
}
