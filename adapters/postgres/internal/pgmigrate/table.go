package pgmigrate

import (
	"cmp"
	"slices"
	"strings"

	"github.com/bulwark-go/bulwark/internal/sqlident"
)

// Steps names the steps of a store with one table (see TableSchema) and holds
// the SQL they run.
type Steps struct {
	// SQL makes the table and its indexes, with the table's quoted name in
	// place of {{table}} and the quoted name of the index derived with
	// suffix s in place of {{s_index}}.
	SQL string
	// Create names step 1: SQL under the names the release before
	// versioned migrations derived from the table's name, which
	// PostgreSQL cut at 63 bytes.
	Create string
	// Rename names step 2, which makes the indexes under names that fit in
	// 63 bytes and drops those left under cut names (see RenameStep); ""
	// for a store that names no index after its table, which has step 1
	// only.
	Rename string
}

// TableSchema is the schema of a store with one table, configured as
// Config.Table, and indexes named after it: its checked name and the
// names of its indexes, by sqlident's rule and as the release before
// versioned migrations derived them. It is the store's sqlmigrate.Schema.
type TableSchema struct {
	kind, name      string
	steps           Steps
	suffixes        []string
	indexes, legacy []string // by suffix
}

// NewTableSchema returns the schema of the store of kind whose table is
// configured as table (def when table is ""), with an index derived from
// the table's name with each of suffixes, or the error New returns for a
// table name that is invalid or that would give two objects one name.
func NewTableSchema(kind string, steps Steps, table, def string, suffixes ...string) (TableSchema, error) {
	t := TableSchema{kind: kind, name: cmp.Or(table, def), steps: steps, suffixes: suffixes}
	n := sqlident.NewNames(kind, sqlident.Postgres)
	n.Table("Table", t.name)
	_, base := sqlident.Split(t.name)
	for _, s := range suffixes {
		t.indexes = append(t.indexes, n.Derived("Table", t.name, s))
		t.legacy = append(t.legacy, sqlident.Derive(base, s, 0))
	}
	return t, n.Err()
}

// Name returns the table's name as configured, schema-qualified or not.
func (t TableSchema) Name() string { return t.name }

// Migrations returns the store's steps, built by Build: step 1 and, when
// Steps.Rename names one, step 2.
func (t TableSchema) Migrations() []Migration {
	steps := []Migration{{Version: 1, Name: t.steps.Create, SQL: t.render(t.legacy)}}
	if t.steps.Rename != "" {
		renames := make([][2]string, len(t.indexes))
		for i := range renames {
			renames[i] = [2]string{t.legacy[i], t.indexes[i]}
		}
		steps = append(steps, Migration{Version: 2, Name: t.steps.Rename, SQL: RenameStep(!slices.Equal(t.legacy, t.indexes),
			t.render(t.indexes), DropRenamedIndexes(sqlident.Quote(t.name), renames))})
	}
	return Build(t.kind, t.name, steps)
}

// render returns Steps.SQL with the table's name and indexes in place.
func (t TableSchema) render(indexes []string) string {
	r := []string{"{{table}}", sqlident.Quote(t.name)}
	for i, s := range t.suffixes {
		r = append(r, "{{"+s+"_index}}", sqlident.Quote(indexes[i]))
	}
	return strings.NewReplacer(r...).Replace(t.steps.SQL)
}
