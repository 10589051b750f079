package bulwarkhttp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
)

// responseFormat is the first byte of an HTTP response stored by the
// Idempotency middleware.
const responseFormat = 'h'

// storedResponse is an HTTP response as the Idempotency middleware stores
// and replays it.
type storedResponse struct {
	status int
	header http.Header
	body   []byte
}

// encodeResponse appends the stored form of a response to buf: the format
// byte, the status, the header fields in name order, then the body.
func encodeResponse(buf []byte, status int, header http.Header, body []byte) []byte {
	buf = append(buf, responseFormat)
	buf = binary.AppendUvarint(buf, uint64(status))
	var small [16]string
	names := small[:0]
	for name := range header {
		names = append(names, name)
	}
	slices.Sort(names)
	buf = binary.AppendUvarint(buf, uint64(len(names)))
	for _, name := range names {
		buf = appendString(buf, name)
		values := header[name]
		buf = binary.AppendUvarint(buf, uint64(len(values)))
		for _, v := range values {
			buf = appendString(buf, v)
		}
	}
	return append(buf, body...)
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

var errBadResponse = errors.New("bulwarkhttp: stored response is malformed")

// decodeResponse parses what encodeResponse wrote. It never panics, whatever
// the input.
func decodeResponse(data []byte) (storedResponse, error) {
	d := decoder{data: data}
	if len(data) == 0 || data[0] != responseFormat {
		return storedResponse{}, fmt.Errorf("%w: not a stored HTTP response", errBadResponse)
	}
	d.data = d.data[1:]
	status := d.uvarint()
	if d.err == nil && (status < 100 || status > 999) {
		return storedResponse{}, fmt.Errorf("%w: status %d", errBadResponse, status)
	}
	n := d.count()
	header := make(http.Header, n)
	for i := 0; i < n && d.err == nil; i++ {
		name := d.string()
		m := d.count()
		values := make([]string, 0, m)
		for j := 0; j < m && d.err == nil; j++ {
			values = append(values, d.string())
		}
		header[name] = values
	}
	if d.err != nil {
		return storedResponse{}, d.err
	}
	return storedResponse{status: int(status), header: header, body: d.data}, nil
}

type decoder struct {
	data []byte
	err  error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.data)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad length", errBadResponse)
		return 0
	}
	d.data = d.data[n:]
	return v
}

// count reads a count of items, each taking at least one byte, so a count
// larger than the bytes left is malformed (and never allocates).
func (d *decoder) count() int {
	v := d.uvarint()
	if d.err == nil && v > uint64(len(d.data)) {
		d.err = fmt.Errorf("%w: count %d beyond the data", errBadResponse, v)
		return 0
	}
	return int(v)
}

func (d *decoder) string() string {
	n := d.count()
	if d.err != nil {
		return ""
	}
	s := string(d.data[:n])
	d.data = d.data[n:]
	return s
}
