// Package upstream is a pool of endpoints of one service, as a gateway
// forwards to it: the endpoints come from a discovery.Resolver and follow it;
// each request goes to one endpoint chosen by the balancer, among those that
// pass their active health checks and are not ejected as outliers; a retry of
// the same call goes to another endpoint while one is left.
//
// A Pool is an http.RoundTripper and a bulwark.Service: Run follows the
// resolver and runs the health checks; Close stops them.
package upstream
