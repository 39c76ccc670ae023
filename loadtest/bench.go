// Package loadtest is `tickstock bench`: a load generator that signs in users through the
// app's own routes, gives them distinct settings, holds thousands of SSE streams open and
// measures what they receive (events, bytes, latency from emission to arrival) and what
// the server spends on it (RSS, CPU, goroutines). It also measures plain request rates.
// It talks to the app only over HTTP, like any client, so it can load any instance.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime/pprof"
	"sort"
	"sync"
	"time"
)

// MaxStreamsPerUser is the server's limit of open streams per user (SPEC section 2).
const MaxStreamsPerUser = 8

// Options configure a stream run (Run) or a request-rate run (RunRate).
type Options struct {
	URL         string
	Clients     int    // streams to open
	Users       int    // users to spread them over; 0 means ceil(Clients/8)
	CreateUsers bool   // register the users first (a taken email is fine)
	Groups      int    // distinct settings to give the users; 0 leaves their settings alone
	Format      string // "json" or "html"
	Duration    time.Duration
	Warmup      time.Duration // after the last stream opened, before measuring

	Password    string
	EmailPrefix string // user i is <prefix><i>@<domain>
	EmailDomain string
	// SessionsFile keeps the users' session cookies between runs; a session the server
	// still knows is reused instead of signing in again.
	SessionsFile string

	PID           int    // the server's process id, for /proc; 0 if unknown
	AdminEmail    string // an admin account, for /api/admin/metrics
	AdminPassword string
	// ExtraSymbols widens the feed by this many synthetic symbols before the run, through
	// the admin's universe form (a burst case: with TICKSTOCK_SIM_RATE=1000000 and 10,000
	// symbols, a real market's peak). It needs the admin account.
	ExtraSymbols int

	SourceIPs          int // loopback source addresses to spread over; 0 = the kernel's choice
	ConnectConcurrency int // streams being opened at once
	SetupConcurrency   int // sign-in requests at once
	ConnectTimeout     time.Duration
	ReadBuffer         int // bytes of read buffer per stream (goroutine reader)
	// Reader is "goroutines" to read each stream on a goroutine of its own; otherwise
	// plain-HTTP streams on Linux are read by two epoll loops, which hold no goroutine or
	// buffer per stream.
	Reader string
	// ReadBatch is how long an epoll reader waits, after reading what was ready, before it
	// asks again (0: it sleeps in epoll_wait and wakes for every event). On loopback the
	// kernel charges a sleeping reader's wake-up to the server's write, which a client on
	// another machine would not cost it; reading in batches keeps that out of the server's
	// CPU per event. An arrival can be seen up to ReadBatch late, so latencies err high.
	ReadBatch time.Duration

	// Request-rate mode (RunRate).
	RatePaths   []string
	Concurrency int

	// CPUProfile, if set, receives this tool's CPU profile of the measured window (pprof).
	CPUProfile io.Writer

	Log io.Writer // progress lines; nil for none
}

// Defaults fills in unset options.
func (o *Options) Defaults() {
	if o.Format == "" {
		o.Format = "json"
	}
	if o.Users == 0 {
		o.Users = (o.Clients + MaxStreamsPerUser - 1) / MaxStreamsPerUser
	}
	if o.Users == 0 {
		o.Users = 1
	}
	if o.Password == "" {
		o.Password = "bench-password-1"
	}
	if o.EmailPrefix == "" {
		o.EmailPrefix = "bench-user-"
	}
	if o.EmailDomain == "" {
		o.EmailDomain = "example.com"
	}
	if o.ConnectConcurrency <= 0 {
		o.ConnectConcurrency = 128
	}
	if o.SetupConcurrency <= 0 {
		o.SetupConcurrency = 8
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 30 * time.Second
	}
	if o.ReadBuffer <= 0 {
		o.ReadBuffer = 4096
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
}

// Validate checks options that Defaults cannot fix.
func (o *Options) Validate() error {
	switch {
	case o.Clients < 0:
		return errors.New("--clients must be at least 0")
	case o.Reader != "" && o.Reader != "epoll" && o.Reader != "goroutines":
		return fmt.Errorf("--reader must be epoll or goroutines, not %q", o.Reader)
	case o.Format != "json" && o.Format != "html":
		return fmt.Errorf("--format must be json or html, not %q", o.Format)
	case o.Users*MaxStreamsPerUser < o.Clients:
		return fmt.Errorf("%d streams need at least %d users (the server allows %d streams per user); raise --users",
			o.Clients, (o.Clients+MaxStreamsPerUser-1)/MaxStreamsPerUser, MaxStreamsPerUser)
	case o.Groups < 0:
		return errors.New("--groups must be at least 0")
	case o.Groups > o.Users:
		return fmt.Errorf("--groups %d needs at least as many users (--users is %d)", o.Groups, o.Users)
	case o.Duration <= 0:
		return errors.New("--duration must be positive")
	case o.Warmup < 0:
		return errors.New("--warmup must not be negative")
	case len(o.Password) < 8:
		return errors.New("--password must be at least 8 characters (the server's rule)")
	case (o.AdminEmail == "") != (o.AdminPassword == ""):
		return errors.New("give both --admin-email and --admin-password, or neither")
	case o.ExtraSymbols < 0 || o.ExtraSymbols > 100_000:
		return errors.New("--extra-symbols must be from 0 to 100000")
	case o.ExtraSymbols > 0 && o.AdminEmail == "":
		return errors.New("--extra-symbols needs --admin-email and --admin-password (universes are an admin's to create)")
	}
	return nil
}

func (o *Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, "bench: "+format+"\n", args...)
	}
}

// Result is a stream run's report. The first eleven keys are SPEC section 9's; a null
// means the figure could not be read (no --pid, no admin metrics).
type Result struct {
	ConnectionsOK     int     `json:"connections_ok"`
	ConnectionsFailed int     `json:"connections_failed"`
	EventsPerSecond   float64 `json:"events_per_second"`
	BytesPerSecond    float64 `json:"bytes_per_second"`
	P50Ms             float64 `json:"p50_ms"`
	P99Ms             float64 `json:"p99_ms"`
	MaxMs             float64 `json:"max_ms"`
	ServerRSSBytes    *int64  `json:"server_rss_bytes"`
	ServerGoroutines  *int64  `json:"server_goroutines"`
	// RSSBytesPerStream is the server's RSS at the end of the measurement minus its RSS
	// before the users signed in, over the streams opened: the sessions are part of what
	// the streams cost.
	RSSBytesPerStream *float64 `json:"rss_bytes_per_stream"`
	CPUUsPerEvent     *float64 `json:"cpu_us_per_event"`

	// EventsTotal is the SSE events counted while measuring.
	EventsTotal uint64 `json:"events_total"`
	// ConnectionsLost counts streams that opened but ended while measuring.
	ConnectionsLost int `json:"connections_lost"`
	// Failures counts the reasons of failed and lost connections ("http_429": 3, ...).
	Failures map[string]int `json:"failures"`
	// DroppedMessages is the growth of the publisher's dropped_messages while measuring,
	// from /api/admin/metrics.
	DroppedMessages *int64 `json:"dropped_messages"`
	// ClientCPUUsPerEvent is this tool's own CPU per event, to check it costs less than
	// the server.
	ClientCPUUsPerEvent float64 `json:"client_cpu_us_per_event"`
	// DurationS is the measured window in seconds.
	DurationS float64 `json:"duration_s"`
	// FeedTicksPerSecond is the feed's ticks while measuring over the window, FeedSymbols
	// the symbols the engine knows, and ServerHeapBytes the server's live heap at the end,
	// from /api/admin/metrics (null without an admin account).
	FeedTicksPerSecond *float64 `json:"feed_ticks_per_second"`
	FeedSymbols        *int64   `json:"feed_symbols"`
	ServerHeapBytes    *int64   `json:"server_heap_bytes"`
}

// reasons counts failure reasons.
type reasons struct {
	mu sync.Mutex
	n  map[string]int
}

func newReasons() *reasons { return &reasons{n: map[string]int{}} }

func (r *reasons) add(reason string) {
	r.mu.Lock()
	r.n[reason]++
	r.mu.Unlock()
}

func (r *reasons) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := 0
	for _, v := range r.n {
		t += v
	}
	return t
}

// Run signs the users in, opens the streams, measures for o.Duration and closes
// everything. It returns an error only when the run could not take place at all; streams
// that fail to open are counted in the result.
func Run(ctx context.Context, o Options) (*Result, error) {
	o.Defaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	t, err := parseTarget(o.URL, o.SourceIPs)
	if err != nil {
		return nil, err
	}
	if limit, err := RaiseFileLimit(); err != nil {
		o.logf("%v", err)
	} else if uint64(o.Clients)+64 > limit {
		o.logf("warning: %d streams need more open files than the limit of %d", o.Clients, limit)
	}
	c := newClient(t, o.SetupConcurrency+2)
	defer c.close()
	sp := &serverProbe{o: &o, c: c}
	if o.AdminEmail != "" {
		admin, err := c.signIn(ctx, Account{Email: o.AdminEmail, Password: o.AdminPassword}, false)
		if err != nil {
			return nil, fmt.Errorf("admin sign-in for /api/admin/metrics: %w", err)
		}
		sp.admin = admin
		if o.ExtraSymbols > 0 {
			if err := c.addSymbols(ctx, admin, o.ExtraSymbols); err != nil {
				return nil, err
			}
			o.logf("added %d symbols to the feed", o.ExtraSymbols)
		}
	}

	// The baseline is read before signing in: argon2id takes 19 MiB per password check, and
	// the server's heap keeps that memory until its next garbage collections, which the
	// streams bring about. A reading taken after sign-in would hide the streams' own memory.
	before := sp.read(ctx)
	start := time.Now()
	o.logf("signing in %d users (%d settings groups)", o.Users, o.Groups)
	sessions, err := c.signInAll(ctx, &o, o.Users, o.SetupConcurrency)
	if err != nil {
		return nil, err
	}
	o.logf("signed in %d users in %.1fs", o.Users, time.Since(start).Seconds())
	c.close()

	run := &streamRun{t: t, json: o.Format == "json", bufSize: o.ReadBuffer, fails: newReasons(), lost: newReasons()}
	streams := make([]*stream, o.Clients)
	cookies := make([]string, len(sessions))
	for i, s := range sessions {
		cookies[i] = s.cookieHeader()
	}
	for i := range streams {
		streams[i] = &stream{run: run, cookie: cookies[i%len(cookies)], fd: -1}
		streams[i].parser = NewParser(run.json, streams[i].onEvent)
	}
	usePoll := pollSupported && !t.tls && o.Reader != "goroutines"
	var poll *poller
	if usePoll {
		if poll, err = newPoller(run, streams, 2, o.ReadBatch); err != nil {
			return nil, err
		}
	}
	var opened, ended sync.WaitGroup
	sem := make(chan struct{}, o.ConnectConcurrency)
	start = time.Now()
	o.logf("opening %d %s streams", o.Clients, o.Format)
	for i, s := range streams {
		opened.Add(1)
		sem <- struct{}{} // once ctx is done, each attempt fails at once
		go func() {
			defer opened.Done()
			br, reason := s.open(ctx, o.ConnectTimeout)
			<-sem
			if reason != "" {
				run.fails.add(reason)
				return
			}
			s.ok = true
			if usePoll {
				left, _ := br.Peek(br.Buffered())
				if err := poll.add(i, left); err != nil {
					s.ok = false
					run.fails.add("poll: " + errReason(err))
					s.closeConn()
				}
				return
			}
			ended.Add(1)
			go func() {
				defer ended.Done()
				err := s.readLoop(br)
				if run.phase.Load() == phaseMeasuring {
					run.lost.add("stream: " + errReason(err))
				}
			}()
		}()
	}
	opened.Wait()
	okCount := 0
	for _, s := range streams {
		if s.ok {
			okCount++
		}
	}
	o.logf("opened %d streams (%d failed) in %.1fs", okCount, run.fails.total(), time.Since(start).Seconds())

	sleep(ctx, o.Warmup)
	o.logf("measuring for %s", o.Duration)
	p0 := sp.read(ctx)
	if o.CPUProfile != nil {
		if err := pprof.StartCPUProfile(o.CPUProfile); err != nil {
			o.logf("cpu profile: %v", err)
		}
	}
	self0 := selfCPU()
	t0 := time.Now()
	run.phase.Store(phaseMeasuring)
	sleep(ctx, o.Duration)
	run.phase.Store(phaseStopping)
	window := time.Since(t0)
	self1 := selfCPU()
	if o.CPUProfile != nil {
		pprof.StopCPUProfile()
	}
	p1 := sp.read(context.WithoutCancel(ctx))
	o.logf("measured %.1fs: %d latency samples", window.Seconds(), run.latency.Count())

	if poll != nil {
		poll.close()
	}
	for _, s := range streams {
		s.closeConn()
	}
	ended.Wait()

	r := &Result{ConnectionsOK: okCount, ConnectionsFailed: len(streams) - okCount, DurationS: round(window.Seconds(), 3)}
	for _, s := range streams {
		r.EventsTotal += s.events
		r.BytesPerSecond += float64(s.bytes)
	}
	secs := window.Seconds()
	r.EventsPerSecond = round(float64(r.EventsTotal)/secs, 1)
	r.BytesPerSecond = round(r.BytesPerSecond/secs, 0)
	r.P50Ms = usToMs(run.latency.Quantile(0.50))
	r.P99Ms = usToMs(run.latency.Quantile(0.99))
	r.MaxMs = usToMs(run.latency.Max())
	r.Failures = map[string]int{}
	run.fails.mu.Lock()
	for k, v := range run.fails.n {
		r.Failures[k] += v
	}
	run.fails.mu.Unlock()
	run.lost.mu.Lock()
	for k, v := range run.lost.n {
		r.Failures[k] += v
		if k != "logout" { // a logout is followed by the stream's end, counted there
			r.ConnectionsLost += v
		}
	}
	run.lost.mu.Unlock()
	r.ServerRSSBytes = p1.rss
	r.ServerGoroutines = p1.goroutines
	if before.rss != nil && p1.rss != nil && okCount > 0 {
		v := round(float64(*p1.rss-*before.rss)/float64(okCount), 0)
		r.RSSBytesPerStream = &v
	}
	if p0.proc != nil && p1.proc != nil && r.EventsTotal > 0 {
		v := round(float64((p1.proc.CPU-p0.proc.CPU).Microseconds())/float64(r.EventsTotal), 2)
		r.CPUUsPerEvent = &v
	}
	if p0.dropped != nil && p1.dropped != nil {
		d := *p1.dropped - *p0.dropped
		r.DroppedMessages = &d
	}
	if p0.ticks != nil && p1.ticks != nil {
		v := round(float64(*p1.ticks-*p0.ticks)/secs, 0)
		r.FeedTicksPerSecond = &v
	}
	r.FeedSymbols, r.ServerHeapBytes = p1.symbols, p1.heap
	if r.EventsTotal > 0 {
		r.ClientCPUUsPerEvent = round(float64((self1-self0).Microseconds())/float64(r.EventsTotal), 2)
	}
	return r, nil
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func usToMs(us int64) float64 { return round(float64(us)/1000, 3) }

func round(v float64, places int) float64 {
	p := math.Pow10(places)
	return math.Round(v*p) / p
}

// sortedKeys returns m's keys in order, for stable output.
func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
