// Command benchsuite runs issue 16's standard load cases against freshly started servers and
// writes the figures, with their medians, to <out>/results.json and a plot of p99 and RSS
// per stream against streams to <out>/streams.svg. `go tool task bench` runs it; see
// README.md, "Load testing".
//
//	go run ./loadtest/cmd/benchsuite -bin bin/tickstock -out bench-results [-runs 3] [-cases all]
//	go run ./loadtest/cmd/benchsuite -plot bench-results/results.json   # redraw the SVG only
//
// Each run of each case starts its own server (so RSS per stream starts from an idle
// process), with the simulated feed, a rate limit high enough for the load, open signup and
// plain-HTTP cookies; DATABASE_URL and REDIS_URL are passed through when set (without
// DATABASE_URL the server uses its embedded PostgreSQL). The load tool runs as a separate
// process: `<bin> bench ... --json --pid <server>`.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tickstock/tickstock/loadtest"
)

type config struct {
	bin, out, addr, cases string
	dataDir               string // TICKSTOCK_DATA_DIR of the servers (the embedded PostgreSQL's), "" for the default
	runs                  int
	duration, warmup      time.Duration
	rateDuration          time.Duration
	rateConcurrency       int
	databaseURL, redisURL string
	adminEmail, adminPass string
	emitInterval, simRate string
}

func main() {
	var c config
	plot := flag.String("plot", "", "only redraw the SVG from this results.json (written next to it as streams.svg)")
	flag.StringVar(&c.bin, "bin", "bin/tickstock", "the tickstock binary to run and to load-test with")
	flag.StringVar(&c.out, "out", "bench-results", "directory for results.json, streams.svg and the logs")
	flag.StringVar(&c.addr, "addr", "127.0.0.1:18080", "address for the servers under test")
	flag.StringVar(&c.cases, "cases", "all", "comma-separated case names (see -list), or all; \"rate\" is the /dashboard vs /healthz case")
	list := flag.Bool("list", false, "list the cases and exit")
	flag.IntVar(&c.runs, "runs", 3, "runs per case; the medians are reported")
	flag.DurationVar(&c.duration, "duration", 30*time.Second, "measurement per stream run")
	flag.DurationVar(&c.warmup, "warmup", 10*time.Second, "wait after the streams open, before measuring")
	flag.DurationVar(&c.rateDuration, "rate-duration", 10*time.Second, "measurement per path in the rate case")
	flag.IntVar(&c.rateConcurrency, "rate-concurrency", 32, "connections in the rate case")
	flag.StringVar(&c.emitInterval, "emit-interval", "1s", "TICKSTOCK_EMIT_INTERVAL of the servers")
	flag.StringVar(&c.simRate, "sim-rate", "2000", "TICKSTOCK_SIM_RATE of the servers")
	flag.Parse()
	c.databaseURL, c.redisURL = os.Getenv("DATABASE_URL"), os.Getenv("REDIS_URL")
	c.dataDir = os.Getenv("TICKSTOCK_DATA_DIR")
	c.adminEmail, c.adminPass = "bench-admin@example.com", "bench-admin-password"

	if *list {
		for _, cs := range loadtest.StandardCases() {
			fmt.Printf("%-20s %6d streams, %5d users, %5d groups\n", cs.Name, cs.Clients, cs.Users, cs.Groups)
		}
		fmt.Printf("%-20s GET /healthz then GET /dashboard, signed in\n", "rate")
		return
	}
	if *plot != "" {
		if err := redraw(*plot); err != nil {
			fmt.Fprintln(os.Stderr, "benchsuite:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := suite(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "benchsuite:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s benchsuite: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func suite(ctx context.Context, c config) error {
	if err := os.MkdirAll(filepath.Join(c.out, "logs"), 0o755); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, n := range strings.Split(c.cases, ",") {
		want[strings.TrimSpace(n)] = true
	}
	pick := func(name string) bool { return want["all"] || want[name] }

	res := loadtest.SuiteResults{Machine: loadtest.Machine{
		Date: time.Now().UTC().Format(time.RFC3339), CPUs: runtime.NumCPU(), Go: runtime.Version(),
		Commit: gitCommit(), Sessions: "memory",
		Note: "server and load tool share the machine",
	}}
	if c.redisURL != "" {
		res.Machine.Sessions = "redis"
	}
	if err := addAdmin(ctx, c); err != nil {
		return err
	}
	save := func() error {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(c.out, "results.json"), append(b, '\n'), 0o644); err != nil {
			return err
		}
		return writePlot(res, filepath.Join(c.out, "streams.svg"))
	}
	// The burst cases go last, after the rate case: their extra symbols stay in the
	// database's universes. With the embedded PostgreSQL they get a database of their own.
	var cases, bursts []loadtest.Case
	for _, cs := range loadtest.StandardCases() {
		if !pick(cs.Name) {
			continue
		}
		if cs.ExtraSymbols > 0 {
			bursts = append(bursts, cs)
		} else {
			cases = append(cases, cs)
		}
	}
	runCase := func(cs loadtest.Case) error {
		c := c
		if cs.ExtraSymbols > 0 && c.databaseURL == "" {
			c.dataDir = filepath.Join(os.TempDir(), "tickstock-bench-"+cs.Name)
			if err := addAdmin(ctx, c); err != nil {
				return err
			}
		}
		cr := loadtest.CaseResults{Case: cs}
		for run := 1; run <= c.runs; run++ {
			logf("%s, run %d of %d", cs.Name, run, c.runs)
			args := []string{"--clients", strconv.Itoa(cs.Clients), "--users", strconv.Itoa(cs.Users),
				"--create-users", "--groups", strconv.Itoa(cs.Groups), "--format", cs.Format,
				"--duration", c.duration.String(), "--warmup", c.warmup.String()}
			sc := c
			if cs.SimRate > 0 {
				sc.simRate = strconv.Itoa(cs.SimRate)
			}
			if cs.ExtraSymbols > 0 {
				args = append(args, "--extra-symbols", strconv.Itoa(cs.ExtraSymbols))
			}
			var m map[string]any
			err := withServer(ctx, sc, fmt.Sprintf("%s-%d", cs.Name, run), func(pid int, logs string) error {
				out, err := runBench(ctx, c, pid, logs, args)
				if err != nil {
					return err
				}
				return json.Unmarshal(out, &m)
			})
			if err != nil {
				return fmt.Errorf("%s run %d: %w", cs.Name, run, err)
			}
			logf("%s run %d: connected %v, p99 %v ms, RSS/stream %v B, CPU/event %v µs, dropped %v, feed %v ticks/s over %v symbols",
				cs.Name, run, m["connections_ok"], m["p99_ms"], m["rss_bytes_per_stream"], m["cpu_us_per_event"],
				m["dropped_messages"], m["feed_ticks_per_second"], m["feed_symbols"])
			cr.Runs = append(cr.Runs, m)
		}
		cr.Median = loadtest.Medians(cr.Runs)
		res.Cases = append(res.Cases, cr)
		return save()
	}
	for _, cs := range cases {
		if err := runCase(cs); err != nil {
			return err
		}
	}
	if pick("rate") {
		rc := &loadtest.RateCase{Paths: []string{"/healthz", "/dashboard"}, Concurrency: c.rateConcurrency}
		for run := 1; run <= c.runs; run++ {
			logf("rate, run %d of %d", run, c.runs)
			args := []string{"--rps-paths", strings.Join(rc.Paths, ","), "--create-users",
				"--concurrency", strconv.Itoa(c.rateConcurrency), "--duration", c.rateDuration.String(), "--warmup", "3s"}
			var r loadtest.RateResult
			err := withServer(ctx, c, fmt.Sprintf("rate-%d", run), func(pid int, logs string) error {
				out, err := runBench(ctx, c, 0, logs, args)
				if err != nil {
					return err
				}
				return json.Unmarshal(out, &r)
			})
			if err != nil {
				return fmt.Errorf("rate run %d: %w", run, err)
			}
			logf("rate run %d: %s", run, rateLine(r))
			rc.Runs = append(rc.Runs, r)
		}
		rc.MedianRatio = loadtest.MedianRatio(rc.Runs)
		res.Rate = rc
	}
	for _, cs := range bursts {
		if err := runCase(cs); err != nil {
			return err
		}
	}
	if err := save(); err != nil {
		return err
	}
	logf("wrote %s and %s", filepath.Join(c.out, "results.json"), filepath.Join(c.out, "streams.svg"))
	return nil
}

func rateLine(r loadtest.RateResult) string {
	var parts []string
	for _, p := range r.Paths {
		parts = append(parts, fmt.Sprintf("%s %.0f/s (×%.3f)", p.Path, p.RequestsPerSecond, p.RatioToFirst))
	}
	return strings.Join(parts, ", ")
}

// serverEnv is the environment of a server under test.
func serverEnv(c config) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"TICKSTOCK_ADDR=" + c.addr,
		"TICKSTOCK_FEED=sim", "TICKSTOCK_SIM_SEED=1", "TICKSTOCK_SIM_RATE=" + c.simRate,
		"TICKSTOCK_EMIT_INTERVAL=" + c.emitInterval,
		"TICKSTOCK_RATE_LIMIT=1000000", "TICKSTOCK_SIGNUP=open", "TICKSTOCK_COOKIE_SECURE=false",
		"TICKSTOCK_LOG_FORMAT=json",
	}
	if c.databaseURL != "" {
		env = append(env, "DATABASE_URL="+c.databaseURL)
	}
	if c.redisURL != "" {
		env = append(env, "REDIS_URL="+c.redisURL)
	}
	if c.dataDir != "" {
		env = append(env, "TICKSTOCK_DATA_DIR="+c.dataDir)
	}
	return env
}

// addAdmin creates the admin account the tool reads /api/admin/metrics with (once; an
// existing account is fine).
func addAdmin(ctx context.Context, c config) error {
	cmd := exec.CommandContext(ctx, c.bin, "user", "add", "--email", c.adminEmail, "--username", "bench-admin", "--admin")
	cmd.Env = append(serverEnv(c), "TICKSTOCK_PASSWORD="+c.adminPass)
	out, err := cmd.CombinedOutput()
	if err != nil && !bytes.Contains(bytes.ToLower(out), []byte("already")) && !bytes.Contains(bytes.ToLower(out), []byte("taken")) {
		return fmt.Errorf("create the admin account: %v\n%s", err, out)
	}
	return nil
}

// withServer starts a server, waits until it is ready, calls fn with its pid, and stops
// it with SIGTERM.
func withServer(ctx context.Context, c config, name string, fn func(pid int, logs string) error) error {
	logs := filepath.Join(c.out, "logs", name)
	f, err := os.Create(logs + ".server.log")
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.Command(c.bin, "serve")
	cmd.Env = serverEnv(c)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", c.bin, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	if err := waitReady(ctx, "http://"+c.addr+"/readyz", done); err != nil {
		return fmt.Errorf("%w (see %s.server.log)", err, logs)
	}
	return fn(cmd.Process.Pid, logs)
}

func waitReady(ctx context.Context, url string, exited <-chan error) error {
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("the server exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return errors.New("the server was not ready within 3 minutes")
}

// runBench runs `<bin> bench --url ... args --json [--pid]` and returns its JSON line;
// its progress goes to <logs>.bench.log.
func runBench(ctx context.Context, c config, pid int, logs string, args []string) ([]byte, error) {
	full := append([]string{"bench", "--url", "http://" + c.addr, "--json",
		"--admin-email", c.adminEmail, "--sessions", filepath.Join(c.out, "sessions.json")}, args...)
	if pid > 0 {
		full = append(full, "--pid", strconv.Itoa(pid))
	}
	f, err := os.Create(logs + ".bench.log")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, c.bin, full...)
	cmd.Env = append(os.Environ(), "TICKSTOCK_BENCH_ADMIN_PASSWORD="+c.adminPass)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, io.MultiWriter(f, prefixed(os.Stderr))
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w (see %s.bench.log)", c.bin, strings.Join(full, " "), err, logs)
	}
	return bytes.TrimSpace(out.Bytes()), nil
}

// prefixed indents the tool's progress lines in the suite's output.
func prefixed(w io.Writer) io.Writer {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			fmt.Fprintln(w, "    "+sc.Text())
		}
	}()
	return pw
}

func gitCommit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func writePlot(res loadtest.SuiteResults, path string) error {
	pts := loadtest.ScaleSeries(res)
	if len(pts) == 0 {
		return nil
	}
	var b bytes.Buffer
	title := fmt.Sprintf("TickStock, JSON streams in 100 settings groups (median of runs; %d CPUs, %s)", res.Machine.CPUs, res.Machine.Date[:10])
	if err := loadtest.WritePlot(&b, title, pts); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func redraw(resultsPath string) error {
	b, err := os.ReadFile(resultsPath)
	if err != nil {
		return err
	}
	var res loadtest.SuiteResults
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("%s: %w", resultsPath, err)
	}
	out := filepath.Join(filepath.Dir(resultsPath), "streams.svg")
	if err := writePlot(res, out); err != nil {
		return err
	}
	fmt.Println(out)
	return nil
}
