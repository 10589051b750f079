// Package sqlident validates and quotes the table names users configure for
// bulwark's SQL stores, so a name can never carry SQL into a statement.
package sqlident

import (
	"fmt"
	"strings"
)

// maxPart is PostgreSQL's identifier limit (NAMEDATALEN-1); SQLite has none
// but the same bound keeps names portable.
const maxPart = 63

// Check reports whether name is a plain identifier, optionally qualified by
// a schema ("outbox" or "app.outbox"): letters, digits and underscores, not
// starting with a digit, at most 63 bytes per part. The error names setting,
// the configuration field the name came from.
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
	case len(p) > maxPart:
		return fmt.Errorf("part %q is longer than %d bytes", p, maxPart)
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
