package sqlitemigrate

import (
	"cmp"
	"strings"

	"github.com/bulwark-go/bulwark/internal/sqlident"
)

// TableSchema is the schema of a store with one table, configured as
// Config.Table, and indexes named after it: its checked name and the
// names of its indexes. It is the store's sqlmigrate.Schema, of one step.
type TableSchema struct {
	kind, name string
	step       Migration // Version 1, its SQL not rendered yet
	suffixes   []string
	indexes    []string // by suffix
}

// NewTableSchema returns the schema of the store of kind whose table is
// configured as table (def when table is ""), with an index derived from
// the table's name with each of suffixes, or the error New returns for a
// table name that is invalid or that would give two objects one name.
// Its one step, named name, runs sql with the table's quoted name in place
// of {{table}}, the quoted name without its schema in place of
// {{unqualified}}, and the quoted name of the index derived with suffix s,
// in the table's schema, in place of {{s_index}}: SQLite qualifies the
// index's name, not its table (CREATE INDEX "app"."t_claim" ON "t").
func NewTableSchema(kind, name, sql, table, def string, suffixes ...string) (TableSchema, error) {
	t := TableSchema{kind: kind, name: cmp.Or(table, def), step: Migration{Version: 1, Name: name, SQL: sql}, suffixes: suffixes}
	n := sqlident.NewNames(kind, sqlident.SQLite)
	n.Table("Table", t.name)
	for _, s := range suffixes {
		t.indexes = append(t.indexes, n.Derived("Table", t.name, s))
	}
	return t, n.Err()
}

// Name returns the table's name as configured, schema-qualified or not.
func (t TableSchema) Name() string { return t.name }

// Migrations returns the store's step, built by Build.
func (t TableSchema) Migrations() []Migration {
	schema, base := sqlident.Split(t.name)
	r := []string{"{{table}}", sqlident.Quote(t.name), "{{unqualified}}", sqlident.Quote(base)}
	for i, s := range t.suffixes {
		r = append(r, "{{"+s+"_index}}", sqlident.Quote(sqlident.Qualify(schema, t.indexes[i])))
	}
	step := t.step
	step.SQL = strings.NewReplacer(r...).Replace(step.SQL)
	return Build(t.kind, t.name, []Migration{step})
}
