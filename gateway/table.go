package gateway

import (
	"net/http"

	"github.com/bulwark-go/bulwark/gateway/jwtauth"
	"github.com/bulwark-go/bulwark/gateway/strangler"
	"github.com/bulwark-go/bulwark/ratelimit"
	"sync"
	"sync/atomic"
)

// table is one route table: a ServeMux of the document's routes and the
// pools they send to. A request holds a reference to the table it started
// on until it is answered, so a reload retires a table only once its
// requests are done.
type table struct {
	mux       *http.ServeMux
	doc       *Document // what the table was built from
	routes    int
	pools     map[string]*pool            // by upstream name
	verifier  *jwtauth.Verifier           // of the jwt section; nil without one
	jwtKey    string                      // the jwt section verifier was made from
	keyed     map[string]*ratelimit.Keyed // the routes' limit windows, by route, window and rule
	routers   []*strangler.Router         // the strangler routes', closed when the table retires
	refs      atomic.Int64
	retired   atomic.Bool
	drainOnce sync.Once
	drained   chan struct{}
}

func newTable() *table {
	return &table{mux: http.NewServeMux(), pools: map[string]*pool{}, keyed: map[string]*ratelimit.Keyed{}, drained: make(chan struct{})}
}

// acquire returns the current table with a reference taken. The reference
// is taken before the table is checked to still be current, so a table is
// never seen drained while a request it let in is running.
func (g *Gateway) acquire() *table {
	for {
		t := g.table.Load()
		t.refs.Add(1)
		if g.table.Load() == t {
			return t
		}
		t.release()
	}
}

// release drops a reference; the last one out of a retired table marks it
// drained.
func (t *table) release() {
	if t.refs.Add(-1) == 0 && t.retired.Load() {
		t.drainOnce.Do(func() { close(t.drained) })
	}
}

// retire marks t as replaced: it is drained once the requests holding it
// are done.
func (t *table) retire() {
	t.retired.Store(true)
	if t.refs.Load() == 0 {
		t.drainOnce.Do(func() { close(t.drained) })
	}
}
