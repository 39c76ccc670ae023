package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The multi-instance tests run real processes of the built binary, as operators do: the
// binary is built once, the first time a test needs it (with -race when the tests run
// with it), and removed when the tests end.

var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// mustBinary returns the path of the tickstock binary built from this package.
func mustBinary(tb testing.TB) string {
	tb.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "tickstock-bin-")
		if built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "tickstock")
		args := []string{"build", "-o", built.path}
		if raceBuild { // the processes run under the race detector too
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		tb.Fatal(built.err)
	}
	return built.path
}

// proc is a running `tickstock serve` process.
type proc struct {
	tb       testing.TB
	name     string
	cmd      *exec.Cmd
	URL      string
	Instance string
	logs     *syncBuffer
	exited   chan struct{}
	waitErr  error
}

var instanceRE = regexp.MustCompile(`instance=(\S+)`)

// startProc starts the binary with env (plus test defaults) and waits until it listens.
// It is killed, if still running, when tb ends; its log is printed if tb failed.
func startProc(tb testing.TB, name string, env map[string]string) *proc {
	tb.Helper()
	p := mustLaunch(tb, name, env)
	p.waitListening(tb)
	return p
}

// mustLaunch starts the process without waiting for it to listen.
func mustLaunch(tb testing.TB, name string, env map[string]string) *proc {
	tb.Helper()
	full := map[string]string{
		"TICKSTOCK_ADDR": "127.0.0.1:0", "TICKSTOCK_COOKIE_SECURE": "false", "TICKSTOCK_RATE_LIMIT": "1000000",
		"TICKSTOCK_EMIT_INTERVAL": "500ms", "PATH": os.Getenv("PATH"), "HOME": os.Getenv("HOME"),
	}
	for k, v := range env {
		full[k] = v
	}
	cmd := exec.Command(mustBinary(tb), "serve")
	for k, v := range full {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &proc{tb: tb, name: name, cmd: cmd, logs: &syncBuffer{}, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		pw.Close()
		close(p.exited)
	}()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintln(p.logs, sc.Text())
		}
	}()
	tb.Cleanup(func() {
		if p.alive() {
			p.cmd.Process.Kill()
			<-p.exited
		}
		if strings.Contains(p.logs.String(), "WARNING: DATA RACE") {
			tb.Errorf("%s: the race detector found a data race", p.name)
		}
		if tb.Failed() {
			tb.Logf("---- log of %s (%s) ----\n%s", p.name, p.Instance, p.logs.String())
		}
	})
	return p
}

// waitListening waits until the process logs its address and instance name.
func (p *proc) waitListening(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		logs := p.logs.String()
		if m := listenRE.FindStringSubmatch(logs); m != nil {
			p.URL = m[1]
			if i := instanceRE.FindStringSubmatch(logs); i != nil {
				p.Instance = i[1]
			}
			return
		}
		select {
		case <-p.exited:
			tb.Fatalf("%s exited before listening: %v\n%s", p.name, p.waitErr, logs)
		case <-time.After(50 * time.Millisecond):
		}
	}
	tb.Fatalf("%s did not listen within 60 s\n%s", p.name, p.logs.String())
}

func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill ends the process with SIGKILL, as a crash or the OOM killer does.
func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// terminate sends SIGTERM and returns how long the process took to exit (failing the test
// past 15 s).
func (p *proc) terminate(tb testing.TB) time.Duration {
	tb.Helper()
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		tb.Fatalf("%s did not exit within 15 s of SIGTERM", p.name)
	}
	return time.Since(start)
}

// rss is the process's resident memory in bytes, from /proc.
func (p *proc) rss(tb testing.TB) int64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		tb.Fatalf("read the status of %s: %v", p.name, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				tb.Fatalf("VmRSS of %s: %q", p.name, rest)
			}
			return kb << 10
		}
	}
	tb.Fatalf("no VmRSS for %s", p.name)
	return 0
}

// count returns how many log lines of p contain s.
func (p *proc) count(s string) int { return strings.Count(p.logs.String(), s) }

// ready reports /readyz's status.
func (p *proc) ready() int {
	resp, err := http.Get(p.URL + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// member is a signed-in user's browser: one cookie jar for every instance (cookies do not
// tell ports apart, so a session made on one instance is sent to all of them).
type member struct {
	hc       *http.Client
	email    string
	password string
}

// mustSignUp registers a user on base and returns their browser.
func mustSignUp(tb testing.TB, base, email string) *member {
	tb.Helper()
	jar, _ := cookiejar.New(nil)
	m := &member{email: email, password: "cluster-password", hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	resp := m.do(tb, "GET", base+"/auth/register", nil, "")
	resp = m.do(tb, "POST", base+"/auth/register", url.Values{"_csrf": {resp.Header.Get("X-CSRF-Token")},
		"email": {email}, "username": {strings.Split(email, "@")[0]}, "password": {m.password}}, "")
	if resp.StatusCode != http.StatusSeeOther {
		tb.Fatalf("register %s: %d", email, resp.StatusCode)
	}
	return m
}

// login signs in again in the same browser on base (the previous session ends).
func (m *member) login(tb testing.TB, base string) {
	tb.Helper()
	resp := m.do(tb, "GET", base+"/auth/login", nil, "")
	resp = m.do(tb, "POST", base+"/auth/login", url.Values{"_csrf": {resp.Header.Get("X-CSRF-Token")},
		"email": {m.email}, "password": {m.password}}, "")
	if resp.StatusCode != http.StatusSeeOther {
		tb.Fatalf("login %s: %d", m.email, resp.StatusCode)
	}
}

// csrf reads the session's token from a page on base.
func (m *member) csrf(tb testing.TB, base string) string {
	tb.Helper()
	resp := m.do(tb, "GET", base+"/settings", nil, "")
	tok := resp.Header.Get("X-CSRF-Token")
	if resp.StatusCode != 200 || tok == "" {
		tb.Fatalf("GET /settings on %s: %d", base, resp.StatusCode)
	}
	return tok
}

// do sends a request (form when form is set, JSON when body is set) and drains the answer.
func (m *member) do(tb testing.TB, method, u string, form url.Values, jsonBody string) *http.Response {
	tb.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else if jsonBody != "" {
		body = strings.NewReader(jsonBody)
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		tb.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if jsonBody != "" {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
	}
	resp, err := m.hc.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, u, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp
}

// postJSON sends a JSON body with the CSRF header and returns the status.
func (m *member) postJSON(tb testing.TB, base, path, body string) int {
	tb.Helper()
	req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-CSRF-Token", m.csrf(tb, base))
	resp, err := m.hc.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// sseEvent is one Server-Sent Event as a client reads it.
type sseEvent struct {
	id, name, data string
	at             time.Time
}

// sseStream is an open stream; events closes when it ends.
type sseStream struct {
	status int
	events chan sseEvent
	cancel context.CancelFunc
}

// stream opens path on base (with a Last-Event-ID when lastID is set) and reads it in the
// background until it ends or tb ends.
func (m *member) stream(tb testing.TB, base, path, lastID string) *sseStream {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+path, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := (&http.Client{Jar: m.hc.Jar}).Do(req)
	if err != nil {
		cancel()
		tb.Fatalf("open %s%s: %v", base, path, err)
	}
	s := &sseStream{status: resp.StatusCode, events: make(chan sseEvent, 100000), cancel: cancel}
	tb.Cleanup(cancel)
	if resp.StatusCode != 200 {
		resp.Body.Close()
		close(s.events)
		return s
	}
	go func() {
		defer close(s.events)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		var ev sseEvent
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" || len(data) > 0 {
					ev.data, ev.at = strings.Join(data, "\n"), time.Now()
					s.events <- ev
				}
				ev, data = sseEvent{}, nil
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = append(data, line[6:])
			}
		}
	}()
	return s
}

// next returns the stream's next event, or fails after d; ok is false when it ended.
func (s *sseStream) next(tb testing.TB, d time.Duration) (sseEvent, bool) {
	tb.Helper()
	select {
	case ev, ok := <-s.events:
		return ev, ok
	case <-time.After(d):
		tb.Fatalf("no event within %s", d)
		return sseEvent{}, false
	}
}

// emission is the JSON stream's event data.
type emission struct {
	EmittedAt int64             `json:"emitted_at"`
	Highs     []json.RawMessage `json:"highs"`
	Lows      []json.RawMessage `json:"lows"`
	Trending  struct {
		Up   []json.RawMessage `json:"up"`
		Down []json.RawMessage `json:"down"`
	} `json:"trending"`
	Market struct {
		Phase string `json:"phase"`
	} `json:"market"`
}

func mustEmission(tb testing.TB, ev sseEvent) emission {
	tb.Helper()
	var e emission
	if ev.name != "dual_universe_stock_data" || json.Unmarshal([]byte(ev.data), &e) != nil {
		tb.Fatalf("not an emission: %s %q", ev.name, ev.data)
	}
	return e
}

// seqOf reads the emission number of an event id "seq.part".
func seqOf(tb testing.TB, id string) uint64 {
	tb.Helper()
	n, err := strconv.ParseUint(strings.Split(id, ".")[0], 10, 64)
	if err != nil {
		tb.Fatalf("event id %q: %v", id, err)
	}
	return n
}

// waitUntil polls cond every 50 ms until it holds or d passes.
func waitUntil(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
