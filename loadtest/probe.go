package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// serverProbe reads the server's resources from /proc and, with admin credentials, from
// /api/admin/metrics.
type serverProbe struct {
	o     *Options
	c     *client
	admin *session
}

type probe struct {
	proc       *ProcStats
	rss        *int64
	goroutines *int64
	dropped    *int64
	ticks      *int64 // feed.ticks_total
	symbols    *int64 // feed.symbols
	heap       *int64 // process.heap_bytes
}

func (sp *serverProbe) read(ctx context.Context) probe {
	var p probe
	if sp.o.PID > 0 {
		st, err := ReadProc(sp.o.PID)
		if err != nil {
			sp.o.logf("%v", err)
		} else {
			p.proc = &st
			p.rss = &st.RSS
		}
	}
	if sp.admin != nil {
		m, err := sp.c.metrics(ctx, sp.admin)
		if err != nil {
			if !errors.Is(err, errNoMetrics) {
				sp.o.logf("metrics: %v", err)
			}
			return p
		}
		if v, ok := findNumber(m, "goroutines", "server_goroutines"); ok {
			n := int64(v)
			p.goroutines = &n
		}
		num := func(keys ...string) *int64 {
			if v, ok := findNumber(m, keys...); ok {
				n := int64(v)
				return &n
			}
			return nil
		}
		p.dropped = num("dropped_messages")
		p.ticks, p.symbols, p.heap = num("ticks_total"), num("symbols"), num("heap_bytes")
		if p.rss == nil {
			if v, ok := findNumber(m, "rss_bytes", "server_rss_bytes", "resident_bytes"); ok {
				n := int64(v)
				p.rss = &n
			}
		}
	}
	return p
}

var errNoMetrics = errors.New("the server has no /api/admin/metrics")

// metrics reads GET /api/admin/metrics as the admin session, as a generic JSON tree.
func (c *client) metrics(ctx context.Context, admin *session) (map[string]any, error) {
	status, body, err := c.do(ctx, admin, http.MethodGet, "/api/admin/metrics", nil)
	if err != nil {
		return nil, err
	}
	if status == http.StatusNotFound {
		return nil, errNoMetrics
	}
	if status != http.StatusOK {
		return nil, &httpError{"GET", "/api/admin/metrics", status, errorMessage(body)}
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("GET /api/admin/metrics: %w", err)
	}
	return m, nil
}

// findNumber looks for the first of keys anywhere in a JSON tree (breadth first), so the
// tool reads "goroutines" or "rss_bytes" wherever the metrics put them.
func findNumber(tree map[string]any, keys ...string) (float64, bool) {
	queue := []map[string]any{tree}
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		for _, k := range keys {
			if v, ok := m[k].(float64); ok {
				return v, true
			}
		}
		for _, v := range m {
			if sub, ok := v.(map[string]any); ok {
				queue = append(queue, sub)
			}
		}
	}
	return 0, false
}
