package upstream

import (
	"net"
	"net/http"
	"time"
)

// newTransport is the default transport: keep-alive connections pooled per
// endpoint, bounded connect and handshake times, no proxy from the
// environment (a gateway talks to its endpoints directly), and no response
// timeout of its own (routes set their timeouts through the request's
// context).
func newTransport(cfg Config) *http.Transport {
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          0, // no limit across endpoints: MaxIdleConnsPerHost bounds each
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:       cfg.IdleConnTimeout,
		TLSHandshakeTimeout:   cfg.DialTimeout,
		ExpectContinueTimeout: time.Second,
	}
}
