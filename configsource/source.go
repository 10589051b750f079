package configsource

import "context"

// Document is one delivery of a Source's watch.
type Document struct {
	// Data is the document's contents; nil when Err is set.
	Data []byte
	// Version names this version for logs: a content hash, a store's
	// revision.
	Version string
	// Err is set when the source could not read the document; the previous
	// version still stands and the source keeps trying.
	Err error
}

// Source watches one configuration document.
type Source interface {
	// Watch follows the document. The returned channel receives the current
	// version as soon as it is read and then every new one (never the same
	// Data twice in a row); it is closed after ctx ends. Watch itself fails
	// only when the document cannot be watched at all.
	Watch(ctx context.Context) (<-chan Document, error)
}
