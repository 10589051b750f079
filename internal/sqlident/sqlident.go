// Package sqlident validates and quotes the table names users configure for
// bulwark's SQL stores, so a name can never carry SQL into a statement, and
// derives the names of the objects made for a table (indexes, functions,
// triggers, sequences) by one rule, so that no two of them ever collide.
//
// The rule for a derived name: the table's name (without its schema), "_"
// and a suffix naming the object ("outbox_messages_pending"). When that is
// longer than the database keeps (PostgreSQL cuts identifiers at 63 bytes,
// which once gave several indexes of a long-named table one name), the
// table's name is cut short and followed by "_", 8 hex digits of a SHA-256
// of the whole table name, "_" and the suffix, exactly 63 bytes in all.
// Names that fit are never changed, and a shortened name keeps its suffix
// whole, so two objects of one table never share a name and two tables
// share one only if their names share a prefix and a 32-bit hash. The
// derivation must never change: databases hold the names it gave.
package sqlident

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// MaxPostgres is the longest identifier PostgreSQL keeps (NAMEDATALEN-1);
// it cuts longer ones. It is also the longest part of a configured name
// that Check accepts, for every database, so that names stay portable.
const MaxPostgres = 63

// Dialect says how a database treats names.
type Dialect struct {
	// MaxName is the longest name the database keeps; 0 means no limit.
	MaxName int
	// FoldCase says that names differing only in case are the same
	// (SQLite) rather than distinct (quoted names in PostgreSQL).
	FoldCase bool
}

var (
	// Postgres cuts names at 63 bytes and tells quoted names apart by case.
	Postgres = Dialect{MaxName: MaxPostgres}
	// SQLite keeps names of any length and ignores their case.
	SQLite = Dialect{FoldCase: true}
)

// Check reports whether name is a plain identifier, optionally qualified by
// a schema ("outbox" or "app.outbox"): letters, digits and underscores, not
// starting with a digit, at most 63 bytes per part. The error names setting,
// the configuration field the name came from, and says by how much a name
// is too long.
func Check(setting, name string) error {
	if name == "" {
		return fmt.Errorf("%s: must not be empty", setting)
	}
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return fmt.Errorf("%s: %q has more than one dot; use table or schema.table", setting, name)
	}
	for _, p := range parts {
		if err := checkPart(p); err != nil {
			return fmt.Errorf("%s: %q: %s", setting, name, err)
		}
	}
	return nil
}

func checkPart(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty name part")
	case len(p) > MaxPostgres:
		return fmt.Errorf("part %q is %d bytes long, %d more than the %d allowed", p, len(p), len(p)-MaxPostgres, MaxPostgres)
	case p[0] >= '0' && p[0] <= '9':
		return fmt.Errorf("part %q starts with a digit", p)
	}
	for _, r := range p {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return fmt.Errorf("part %q has %q; only letters, digits and _ are allowed", p, r)
		}
	}
	return nil
}

// Quote returns name, already accepted by Check, with each part in double
// quotes: app.outbox becomes "app"."outbox".
func Quote(name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = `"` + p + `"`
	}
	return strings.Join(parts, ".")
}

// Split returns the schema of name ("" when it has none) and its last part.
func Split(name string) (schema, base string) {
	i := strings.LastIndex(name, ".")
	if i < 0 {
		return "", name
	}
	return name[:i], name[i+1:]
}

// Qualify returns base in schema: "schema.base", or base when schema is "".
func Qualify(schema, base string) string {
	if schema == "" {
		return base
	}
	return schema + "." + base
}

// hashLen is the number of hex digits of the hash in a shortened name.
const hashLen = 8

// Derive returns the name of the object suffix of the table named base
// (without its schema), by the package's rule: base + "_" + suffix when it
// is at most max bytes long (or max is 0), otherwise base cut short + "_"
// + 8 hex digits of SHA-256(base) + "_" + suffix, exactly max bytes. The
// suffix must leave room for the hash: at most max-10-1 bytes.
func Derive(base, suffix string, max int) string {
	name := base + "_" + suffix
	if max == 0 || len(name) <= max {
		return name
	}
	keep := max - len(suffix) - hashLen - 2
	if keep < 1 {
		panic("sqlident: suffix " + suffix + " leaves no room for a table name")
	}
	sum := sha256.Sum256([]byte(base))
	return base[:keep] + "_" + hex.EncodeToString(sum[:])[:hashLen] + "_" + suffix
}

// Names collects the names of the objects one store makes — its
// configured tables and the names derived from them — and keeps the first
// error: an invalid configured name, or two objects that would share a
// name (the later one would be skipped by CREATE ... IF NOT EXISTS, or
// fail). Names are compared within their schema; an unqualified name is
// taken to be in a schema of its own.
type Names struct {
	pkg     string
	dialect Dialect
	taken   map[string]string // folded qualified name → what it names
	err     error
}

// NewNames returns an empty collection for the store package pkg
// ("pgoutbox"), whose errors start with pkg + ": ".
func NewNames(pkg string, d Dialect) *Names {
	return &Names{pkg: pkg, dialect: d, taken: map[string]string{}}
}

// Table checks the name configured as Config.<setting> with Check and
// records it. It returns name.
func (n *Names) Table(setting, name string) string {
	if n.err != nil {
		return name
	}
	if err := Check(n.pkg+": Config."+setting, name); err != nil {
		n.err = err
		return name
	}
	n.take(name, "Config."+setting)
	return name
}

// Derived returns the name (without schema) of the object suffix made for
// table, the name configured as Config.<setting> (see Derive), and records
// it in table's schema.
func (n *Names) Derived(setting, table, suffix string) string {
	schema, base := Split(table)
	name := Derive(base, suffix, n.dialect.MaxName)
	if n.err == nil {
		n.take(Qualify(schema, name), fmt.Sprintf("the %q object derived from Config.%s", suffix, setting))
	}
	return name
}

func (n *Names) take(name, what string) {
	key := name
	if n.dialect.FoldCase {
		key = strings.ToLower(key)
	}
	if other, ok := n.taken[key]; ok {
		n.err = fmt.Errorf("%s: %s and %s would both be named %q; choose other table names", n.pkg, other, what, name)
		return
	}
	n.taken[key] = what
}

// Err returns the first error met, or nil.
func (n *Names) Err() error { return n.err }
