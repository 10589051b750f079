package strangler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"

	"github.com/bulwark-go/bulwark/bulwarkhttp"
)

// FromTransport returns a handler that forwards each request through rt to
// target (a scheme and host, such as "http://orders-v2:8080", or
// "http://orders" in front of an upstream.Pool, which picks the host
// itself), keeping the request's path and query. An error of rt is
// answered with problem+json: 504 when it timed out, 502 otherwise.
func FromTransport(rt http.RoundTripper, target string) (http.Handler, error) {
	if rt == nil {
		return nil, fmt.Errorf("strangler: FromTransport needs a transport, got nil")
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("strangler: FromTransport's target must be http:// or https:// and a host, with no path or query, got %q", target)
	}
	u.Path = ""
	return &httputil.ReverseProxy{
		Rewrite:      func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		Transport:    rt,
		ErrorHandler: writeTransportError,
	}, nil
}

func writeTransportError(w http.ResponseWriter, _ *http.Request, err error) {
	if errors.Is(err, context.DeadlineExceeded) {
		bulwarkhttp.WriteProblem(w, bulwarkhttp.Problem{Status: http.StatusGatewayTimeout, Detail: "The upstream did not answer in time."})
		return
	}
	bulwarkhttp.WriteProblem(w, bulwarkhttp.Problem{Status: http.StatusBadGateway, Detail: "The upstream could not be reached."})
}
