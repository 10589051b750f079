package outbox

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// EncodeHeaders encodes h for a store that keeps headers in a JSON (or
// text) column, so that DecodeHeaders gives back every byte: a JSON object
// whose members are the header names, each value either a JSON string (a
// value that is valid UTF-8 without NUL bytes, which JSON and PostgreSQL's
// jsonb keep exactly) or an object {"base64": "..."} holding any other
// value in standard base64. It returns nil for no headers (nil or empty h).
// A header name that is empty, not valid UTF-8 or holds a NUL byte is
// refused with an error matching ErrInvalidMessage; Prepare refuses such
// names first.
//
// A plain JSON object of strings, as stores wrote before this encoding, is
// a valid encoding of its headers.
func EncodeHeaders(h map[string]string) ([]byte, error) {
	if len(h) == 0 {
		return nil, nil
	}
	enc := make(map[string]any, len(h))
	for name, v := range h {
		if why := badHeaderName(name); why != "" {
			return nil, fmt.Errorf("%w: %s", ErrInvalidMessage, why)
		}
		if utf8.ValidString(v) && strings.IndexByte(v, 0) < 0 {
			enc[name] = v
		} else {
			enc[name] = binaryValue{Base64: base64.StdEncoding.EncodeToString([]byte(v))}
		}
	}
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(enc); err != nil {
		return nil, fmt.Errorf("outbox: encoding headers: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// binaryValue is how EncodeHeaders writes a header value JSON cannot hold.
type binaryValue struct {
	Base64 string `json:"base64"`
}

// DecodeHeaders decodes what EncodeHeaders wrote: nil or empty data is no
// headers (nil). Anything else that is not such an encoding is an error,
// never a panic.
func DecodeHeaders(data []byte) (map[string]string, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("outbox: decoding stored headers: %w", err)
	}
	if raw == nil {
		return nil, fmt.Errorf("outbox: decoding stored headers: want a JSON object, got %.64q", data)
	}
	if len(raw) == 0 {
		return nil, nil
	}
	h := make(map[string]string, len(raw))
	for name, v := range raw {
		switch {
		case len(v) > 0 && v[0] == '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fmt.Errorf("outbox: decoding stored header %.64q: %w", name, err)
			}
			h[name] = s
		case len(v) > 0 && v[0] == '{':
			var b binaryValue
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&b); err != nil {
				return nil, fmt.Errorf("outbox: decoding stored header %.64q: %w", name, err)
			}
			s, err := base64.StdEncoding.DecodeString(b.Base64)
			if err != nil {
				return nil, fmt.Errorf("outbox: decoding stored header %.64q: %w", name, err)
			}
			h[name] = string(s)
		default:
			return nil, fmt.Errorf("outbox: decoding stored header %.64q: want a string or {\"base64\": ...}, got %.64s", name, v)
		}
	}
	return h, nil
}
