package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tickstock/tickstock/loadtest"
)

// bench handles `tickstock bench`: the load tool of SPEC section 9 (package loadtest).
func bench(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := newFlagSet("bench", stdout)
	var o loadtest.Options
	fs.StringVar(&o.URL, "url", "http://localhost:8080", "the app's base URL")
	fs.IntVar(&o.Clients, "clients", 100, "SSE streams to open")
	fs.IntVar(&o.Users, "users", 0, "users to spread the streams over (default ceil(clients/8), the server's limit per user)")
	fs.BoolVar(&o.CreateUsers, "create-users", false, "register the users first through POST /auth/register (existing ones just sign in)")
	fs.IntVar(&o.Groups, "groups", 0, "give the users this many distinct settings (user i gets group i mod G); 0 leaves settings alone")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "how long to measure once every stream is open")
	fs.DurationVar(&o.Warmup, "warmup", 3*time.Second, "wait this long after the streams open (or per path in rate mode) before measuring")
	jsonOut := fs.Bool("json", false, "print one JSON object instead of a table")
	fs.StringVar(&o.Format, "format", "json", "stream format: json (GET /stream?format=json) or html")
	fs.IntVar(&o.PID, "pid", 0, "the server's process id, to read its RSS and CPU time from /proc")
	fs.StringVar(&o.AdminEmail, "admin-email", "", "an admin account, to read /api/admin/metrics (goroutines, dropped messages)")
	fs.StringVar(&o.AdminPassword, "admin-password", "", "its password (or TICKSTOCK_BENCH_ADMIN_PASSWORD)")
	fs.IntVar(&o.ExtraSymbols, "extra-symbols", 0, "widen the feed by this many synthetic symbols first, as the admin (universes BENCH1…, 5,000 symbols each): a burst case")
	fs.StringVar(&o.Password, "password", "", "the bench users' password (or TICKSTOCK_BENCH_PASSWORD; default bench-password-1)")
	fs.StringVar(&o.EmailPrefix, "email-prefix", "bench-user-", "user i is <prefix><i>@<email-domain>")
	fs.StringVar(&o.EmailDomain, "email-domain", "example.com", "see --email-prefix")
	fs.StringVar(&o.SessionsFile, "sessions", "", "keep the users' session cookies in this file and reuse those the server still knows (saves the password hashing; sessions outlive a restart only with REDIS_URL)")
	fs.IntVar(&o.SourceIPs, "source-ips", 16, "spread connections to a loopback URL over this many source addresses from 127.0.0.2; 0 = off")
	fs.IntVar(&o.ConnectConcurrency, "connect-concurrency", 128, "streams being opened at once")
	fs.IntVar(&o.SetupConcurrency, "setup-concurrency", 8, "sign-in and settings requests at once")
	fs.DurationVar(&o.ConnectTimeout, "connect-timeout", 30*time.Second, "time allowed to open one stream")
	fs.IntVar(&o.ReadBuffer, "read-buffer", 4096, "read buffer per stream, in bytes (goroutine reader)")
	fs.DurationVar(&o.ReadBatch, "read-batch", time.Millisecond, "epoll reader: wait this long after reading what was ready before asking again, so a burst is read in batches (on loopback a sleeping reader's wake-up is charged to the server's write); arrivals are seen up to this late. 0 = wake for every event")
	fs.StringVar(&o.Reader, "reader", "epoll", "how streams are read: epoll (Linux, plain HTTP; the cheapest) or goroutines (one per stream)")
	paths := fs.String("rps-paths", "", "request-rate mode: comma-separated paths to GET in turn (e.g. /healthz,/dashboard) instead of streams")
	fs.IntVar(&o.Concurrency, "concurrency", 32, "rate mode: keep-alive connections (and workers)")
	cpuProfile := fs.String("cpuprofile", "", "write this tool's CPU profile of the measured window to this file")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: tickstock bench --url U --clients N [--users M] [--create-users] [--groups G] [--duration D] [--json] [--pid P]\n"+
			"       tickstock bench --url U --rps-paths /healthz,/dashboard [--concurrency C] [--duration D] [--json]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench takes no arguments, got %q", fs.Args())
	}
	if o.Password == "" {
		o.Password = getenv("TICKSTOCK_BENCH_PASSWORD")
	}
	if o.AdminPassword == "" && o.AdminEmail != "" {
		o.AdminPassword = getenv("TICKSTOCK_BENCH_ADMIN_PASSWORD")
	}
	o.Log = os.Stderr
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer f.Close()
		o.CPUProfile = f
	}

	if *paths != "" {
		for _, p := range strings.Split(*paths, ",") {
			if p = strings.TrimSpace(p); p != "" {
				o.RatePaths = append(o.RatePaths, p)
			}
		}
		if o.Users == 0 {
			o.Users = 1
		}
		o.Clients = 0
		r, err := loadtest.RunRate(ctx, o)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		if *jsonOut {
			return loadtest.WriteJSON(stdout, r)
		}
		return r.WriteTable(stdout)
	}
	r, err := loadtest.Run(ctx, o)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if *jsonOut {
		return loadtest.WriteJSON(stdout, r)
	}
	return r.WriteTable(stdout)
}
