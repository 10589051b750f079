package bulwarkhttp

import (
	"errors"
	"net/http"
	"strconv"
	"time"
)

// retryAfterOf returns the RetryAfter of err, if anything in it has one.
func retryAfterOf(err error) (time.Duration, bool) {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		return ra.RetryAfter(), true
	}
	return 0, false
}

// retryAfterSeconds formats d as a Retry-After delta-seconds value, rounded
// up and at least 1: a client told "0" would come straight back.
func retryAfterSeconds(d time.Duration) string {
	secs := (d + time.Second - 1) / time.Second
	return strconv.FormatInt(max(int64(secs), 1), 10)
}

// reject answers a request the server will not serve.
func reject(w http.ResponseWriter, status int, retryAfter time.Duration) {
	w.Header().Set("Retry-After", retryAfterSeconds(retryAfter))
	http.Error(w, http.StatusText(status), status)
}
