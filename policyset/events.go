package policyset

import "log/slog"

// Applied reports that Run applied a version of the document.
type Applied struct {
	Name    string // the Set's Config.Name
	Version string // the Source's name for the version
}

// Kind implements bulwark.Event.
func (Applied) Kind() string { return "policyset.applied" }

// Component implements bulwark.Event.
func (e Applied) Component() string { return e.Name }

// LogValue implements slog.LogValuer.
func (e Applied) LogValue() slog.Value { return slog.GroupValue(slog.String("version", e.Version)) }

// Refused reports a version of the document that Run could not read or
// apply; the settings stay as they were.
type Refused struct {
	Name    string // the Set's Config.Name
	Version string // the Source's name for the version; "" when unread
	Err     error
}

// Kind implements bulwark.Event.
func (Refused) Kind() string { return "policyset.refused" }

// Component implements bulwark.Event.
func (e Refused) Component() string { return e.Name }

// LogValue implements slog.LogValuer.
func (e Refused) LogValue() slog.Value {
	return slog.GroupValue(slog.String("version", e.Version), slog.Any("error", e.Err))
}
