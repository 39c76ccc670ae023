package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/valyala/fasthttp"
)

// RateResult is a request-rate run's report: one entry per path, in the order given.
type RateResult struct {
	Paths []PathRate `json:"paths"`
}

// PathRate is the rate one path reached.
type PathRate struct {
	Path              string         `json:"path"`
	Requests          uint64         `json:"requests"` // answered 200 while measuring
	RequestsPerSecond float64        `json:"requests_per_second"`
	RatioToFirst      float64        `json:"ratio_to_first"` // this path's rate over the first path's
	P50Ms             float64        `json:"p50_ms"`
	P99Ms             float64        `json:"p99_ms"`
	MaxMs             float64        `json:"max_ms"`
	BytesPerRequest   float64        `json:"bytes_per_request"`
	Errors            map[string]int `json:"errors"` // non-200 answers and failed requests, by reason
	DurationS         float64        `json:"duration_s"`
}

// RunRate signs in the users and sends GET requests to each of o.RatePaths in turn, from
// o.Concurrency keep-alive connections, for o.Duration each (after o.Warmup), so the paths
// are compared in one run on one client. The server should allow far more than its default
// rate limit per user (TICKSTOCK_RATE_LIMIT); 429 answers are counted as errors.
func RunRate(ctx context.Context, o Options) (*RateResult, error) {
	o.Defaults()
	switch {
	case len(o.RatePaths) == 0:
		return nil, errors.New("--rps-paths needs at least one path")
	case o.Duration <= 0:
		return nil, errors.New("--duration must be positive")
	case len(o.Password) < 8:
		return nil, errors.New("--password must be at least 8 characters (the server's rule)")
	}
	for _, p := range o.RatePaths {
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("--rps-paths: %q must start with /", p)
		}
	}
	t, err := parseTarget(o.URL, o.SourceIPs)
	if err != nil {
		return nil, err
	}
	if _, err := RaiseFileLimit(); err != nil {
		o.logf("%v", err)
	}
	c := newClient(t, o.SetupConcurrency+2)
	o.Groups = 0
	sessions, err := c.signInAll(ctx, &o, o.Users, o.SetupConcurrency)
	c.close()
	if err != nil {
		return nil, err
	}
	hc := &fasthttp.HostClient{
		Addr:                          t.addr,
		IsTLS:                         t.tls,
		MaxConns:                      o.Concurrency,
		ReadBufferSize:                16 << 10,
		ReadTimeout:                   30 * time.Second,
		WriteTimeout:                  30 * time.Second,
		MaxIdleConnDuration:           time.Minute,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		Dial: func(addr string) (net.Conn, error) {
			return t.dialer.DialContext(context.Background(), "tcp", addr)
		},
	}
	defer hc.CloseIdleConnections()

	res := &RateResult{}
	for _, path := range o.RatePaths {
		if o.Warmup > 0 {
			o.logf("warming up %s for %s", path, o.Warmup)
			hammer(ctx, hc, t, path, sessions, o.Concurrency, o.Warmup)
		}
		o.logf("measuring %s for %s with %d connections", path, o.Duration, o.Concurrency)
		res.Paths = append(res.Paths, hammer(ctx, hc, t, path, sessions, o.Concurrency, o.Duration))
		if ctx.Err() != nil {
			break
		}
	}
	if first := res.Paths[0].RequestsPerSecond; first > 0 {
		for i := range res.Paths {
			res.Paths[i].RatioToFirst = round(res.Paths[i].RequestsPerSecond/first, 3)
		}
	}
	return res, nil
}

// hammer sends GET path from conc workers for d and measures the answers.
func hammer(ctx context.Context, hc *fasthttp.HostClient, t *target, path string, sessions []*session, conc int, d time.Duration) PathRate {
	var (
		lat    Histogram
		ok     atomic.Uint64
		bytes  atomic.Uint64
		errs   = newReasons()
		wg     sync.WaitGroup
		stop   atomic.Bool
		target = t.path(path)
	)
	start := time.Now()
	for w := range conc {
		cookie := sessions[w%len(sessions)].cookieHeader()
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(target)
			req.Header.SetHost(t.host)
			req.Header.Set("Cookie", cookie)
			req.Header.Set("User-Agent", "tickstock-bench")
			for !stop.Load() && ctx.Err() == nil {
				t0 := time.Now()
				err := hc.Do(req, resp)
				switch {
				case err != nil:
					errs.add(errReason(err))
					time.Sleep(10 * time.Millisecond) // a refused port must not spin
				case resp.StatusCode() != fasthttp.StatusOK:
					errs.add("http_" + strconv.Itoa(resp.StatusCode()))
				default:
					ok.Add(1)
					bytes.Add(uint64(len(resp.Body())))
					lat.Record(time.Since(t0).Microseconds())
				}
			}
		})
	}
	sleep(ctx, d)
	stop.Store(true)
	elapsed := time.Since(start)
	wg.Wait()
	pr := PathRate{
		Path:              path,
		Requests:          ok.Load(),
		RequestsPerSecond: round(float64(ok.Load())/elapsed.Seconds(), 1),
		P50Ms:             usToMs(lat.Quantile(0.5)),
		P99Ms:             usToMs(lat.Quantile(0.99)),
		MaxMs:             usToMs(lat.Max()),
		Errors:            errs.n,
		DurationS:         round(elapsed.Seconds(), 3),
	}
	if n := ok.Load(); n > 0 {
		pr.BytesPerRequest = round(float64(bytes.Load())/float64(n), 0)
	}
	return pr
}

// WriteTable writes r for people.
func (r *RateResult) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "path\trequests/s\tvs first\tp50 ms\tp99 ms\tbytes/req\terrors")
	for _, p := range r.Paths {
		var errs []string
		for _, k := range sortedKeys(p.Errors) {
			errs = append(errs, fmt.Sprintf("%s:%d", k, p.Errors[k]))
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.2f\t%.2f\t%.0f\t%s\n", p.Path, p.RequestsPerSecond, p.RatioToFirst,
			p.P50Ms, p.P99Ms, p.BytesPerRequest, strings.Join(errs, " "))
	}
	return tw.Flush()
}
