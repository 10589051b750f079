package saga

import "encoding/json"

// Codec turns saga data into the bytes a Store keeps, and back.
// Unmarshal is given a zero T, so it need not clear fields itself.
type Codec[T any] interface {
	Marshal(v *T) ([]byte, error)
	Unmarshal(b []byte, v *T) error
}

// JSON is the default Codec: encoding/json.
type JSON[T any] struct{}

// Marshal returns the JSON encoding of *v.
func (JSON[T]) Marshal(v *T) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes JSON b into *v.
func (JSON[T]) Unmarshal(b []byte, v *T) error { return json.Unmarshal(b, v) }
