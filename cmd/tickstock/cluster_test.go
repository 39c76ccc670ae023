package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tickstock/tickstock/internal/faultproxy"
	"github.com/tickstock/tickstock/internal/testenv"
)

// clusterEnv is what the instances of one test share: a fresh database, the test Redis and
// a key prefix of their own (TICKSTOCK_REDIS_PREFIX; keys and the bus channel live under
// it, so tests running at once never meet).
func clusterEnv(tb testing.TB) (map[string]string, *redis.Client, string) {
	tb.Helper()
	client, prefix := testenv.MustRedis(tb)
	return map[string]string{"DATABASE_URL": testenv.MustDatabase(tb), "REDIS_URL": testenv.RedisURL(),
		"TICKSTOCK_REDIS_PREFIX": prefix}, client, prefix
}

// leaseHolder names the instance whose lease key is in Redis ("" when none).
func leaseHolder(client *redis.Client, prefix string) string {
	v, err := client.Get(context.Background(), prefix+"feed:lease").Result()
	if err != nil {
		return ""
	}
	_, inst, _ := strings.Cut(v, ":")
	return inst
}

// nextEmission reads s until the next emission and fails on anything that ends or resets
// the stream.
func nextEmission(tb testing.TB, s *sseStream, d time.Duration) (sseEvent, emission) {
	tb.Helper()
	for {
		ev, ok := s.next(tb, d)
		if !ok {
			tb.Fatal("the stream ended")
		}
		switch ev.name {
		case "dual_universe_stock_data":
			return ev, mustEmission(tb, ev)
		case "logout", "reset":
			tb.Fatalf("the stream got %q (%s)", ev.name, ev.data)
		}
	}
}

// endsWithLogout waits up to 5 s for s to send `event: logout` with reason and close, and
// returns how long that took from since.
func endsWithLogout(tb testing.TB, s *sseStream, reason string, since time.Time) time.Duration {
	tb.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				tb.Fatal("the stream closed without a logout event")
			}
			if ev.name == "logout" {
				if ev.data != reason {
					tb.Fatalf("logout reason %q, want %q", ev.data, reason)
				}
				took := time.Since(since)
				for range s.events { // and it closes
				}
				return took
			}
		case <-deadline:
			tb.Fatalf("the stream did not end with logout (%s) within 5 s", reason)
		}
	}
}

// TestClusterSessionsAndSettingsAcrossInstances: a user signed in on A streams from B.
// A settings save on A is obeyed by B's stream from the next emission; the limit of 8
// streams counts both instances; signing in again, logging out and disabling the account
// on A end B's streams within 5 s, each with its reason.
func TestClusterSessionsAndSettingsAcrossInstances(t *testing.T) {
	env, _, _ := clusterEnv(t)
	a := startProc(t, "A", env)
	b := startProc(t, "B", env)
	u := mustSignUp(t, a.URL, "two@example.com")

	s := u.stream(t, b.URL, "/stream?format=json", "")
	if s.status != 200 {
		t.Fatalf("stream on B with a session made on A: %d", s.status)
	}
	busy := false
	for i := 0; i < 60 && !busy; i++ {
		_, e := nextEmission(t, s, 15*time.Second)
		busy = len(e.Highs)+len(e.Lows) > 0 && len(e.Trending.Down) > 0
	}
	if !busy {
		t.Fatal("no highs, lows and down trends on B in 60 emissions: the test would prove nothing")
	}

	// A save on A. B's cache drops the user at once (its TTL is 30 s)...
	if st := u.postJSON(t, a.URL, "/api/user-filters",
		`{"filter_data":{"highlow":{"min_count":1000000},"trends":{"direction":"up","min_strength":"weak"}}}`); st != 200 {
		t.Fatalf("save filters on A: %d", st)
	}
	if r := u.do(t, "GET", b.URL+"/api/user-filters", nil, ""); !strings.Contains(readBody(r), `"min_count":1000000`) {
		t.Fatal("B still serves the old filters after a save on A")
	}
	changed := time.Now().UnixMilli()
	// ...and every emission made after the change obeys it.
	obeyed := 0
	for obeyed < 6 {
		_, e := nextEmission(t, s, 10*time.Second)
		if e.EmittedAt <= changed {
			continue
		}
		if len(e.Highs)+len(e.Lows)+len(e.Trending.Down) > 0 {
			t.Fatalf("an emission made after the save still has %d highs, %d lows, %d down trends",
				len(e.Highs), len(e.Lows), len(e.Trending.Down))
		}
		obeyed++
	}

	// Eight streams over both instances; the ninth is refused wherever it opens.
	var extra []*sseStream
	for i := range 7 {
		x := u.stream(t, []string{a.URL, b.URL}[i%2], "/stream?format=json", "")
		if x.status != 200 {
			t.Fatalf("stream %d of 8: %d", i+2, x.status)
		}
		extra = append(extra, x)
	}
	for _, p := range []*proc{a, b} {
		if x := u.stream(t, p.URL, "/stream?format=json", ""); x.status != http.StatusTooManyRequests {
			t.Fatalf("a ninth stream on %s: %d, want 429", p.name, x.status)
		}
	}
	for _, x := range extra {
		x.cancel()
	}
	// A closed stream gives its slot back once its instance notices (its next write).
	waitUntil(t, 10*time.Second, "the slots of closed streams", func() bool {
		x := u.stream(t, a.URL, "/stream?format=json", "")
		x.cancel()
		return x.status == 200
	})

	// Signing in again in this browser (on A) ends the replaced session's stream on B.
	start := time.Now()
	u.login(t, a.URL)
	t.Logf("sign-in again on A ended the stream on B in %s", endsWithLogout(t, s, "logout", start).Round(time.Millisecond))

	// Logging out on A ends the new session's stream on B.
	s = u.stream(t, b.URL, "/stream?format=json", "")
	nextEmission(t, s, 10*time.Second)
	start = time.Now()
	if r := u.do(t, "POST", a.URL+"/auth/logout", url.Values{"_csrf": {u.csrf(t, a.URL)}}, ""); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout on A: %d", r.StatusCode)
	}
	t.Logf("logout on A ended the stream on B in %s", endsWithLogout(t, s, "logout", start).Round(time.Millisecond))
	if x := u.stream(t, b.URL, "/stream?format=json", ""); x.status != http.StatusUnauthorized {
		t.Fatalf("a stream on B after logout on A: %d", x.status)
	}

	// The account is disabled behind the app's back; its first request on A once A's copy
	// of the account row has expired (auth.AccountTTL) signs it out everywhere: B's stream
	// ends too.
	u.login(t, a.URL)
	s = u.stream(t, b.URL, "/stream?format=json", "")
	nextEmission(t, s, 10*time.Second)
	conn, err := pgx.Connect(context.Background(), env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `UPDATE users SET disabled = true WHERE email = $1`, u.email); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	waitUntil(t, 5*time.Second, "A to refuse the disabled user", func() bool {
		return u.do(t, "GET", a.URL+"/dashboard", nil, "").StatusCode == http.StatusSeeOther
	})
	t.Logf("disabling (noticed on A) ended the stream on B in %s", endsWithLogout(t, s, "disabled", start).Round(time.Millisecond))
}

func readBody(r *http.Response) string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// TestClusterLeaderKilled: the feed leader is killed with SIGKILL; another instance takes
// the lease over and emits within 10 s, and a stream on it never stops (no logout, no
// reset, no end). Then SIGTERM on the new leader hands the feed over at once, and the
// process exits within 10 s.
func TestClusterLeaderKilled(t *testing.T) {
	env, client, prefix := clusterEnv(t)
	env["TICKSTOCK_EMIT_INTERVAL"] = "1s"
	a := startProc(t, "A", env)
	waitUntil(t, 15*time.Second, "A to take the lease", func() bool { return leaseHolder(client, prefix) == a.Instance })
	b := startProc(t, "B", env)
	u := mustSignUp(t, b.URL, "failover@example.com")
	s := u.stream(t, b.URL, "/stream?format=json", "")
	var last uint64
	for range 3 {
		ev, _ := nextEmission(t, s, 10*time.Second)
		last = seqOf(t, ev.id)
	}

	a.kill()
	killed := time.Now()
	var takeover time.Duration
	for takeover == 0 {
		ev, _ := nextEmission(t, s, 12*time.Second)
		seq := seqOf(t, ev.id)
		if seq <= last {
			t.Fatalf("emission %d after %d", seq, last)
		}
		if seq != last+1 { // a new leader numbers on from the clock
			takeover = ev.at.Sub(killed)
		}
		last = seq
	}
	if takeover > 10*time.Second {
		t.Fatalf("the takeover took %s, over 10 s", takeover)
	}
	if h := leaseHolder(client, prefix); h != b.Instance {
		t.Fatalf("lease holder %q, want B (%s)", h, b.Instance)
	}
	t.Logf("SIGKILL of the leader → first emission of the new leader on the survivor's stream: %s", takeover.Round(time.Millisecond))
	for range 5 { // and the stream goes on
		ev, _ := nextEmission(t, s, 5*time.Second)
		if seq := seqOf(t, ev.id); seq != last+1 {
			t.Fatalf("after the takeover emission %d followed %d", seq, last)
		} else {
			last = seq
		}
	}
	if b.ready() != 200 {
		t.Fatal("the survivor is not ready")
	}

	// A graceful stop of the leader releases the lease at once.
	c := startProc(t, "C", env)
	sc := u.stream(t, c.URL, "/stream?format=json", "")
	ev, _ := nextEmission(t, sc, 10*time.Second)
	last = seqOf(t, ev.id)
	stopped := time.Now()
	took := b.terminate(t)
	if took > 10*time.Second {
		t.Fatalf("SIGTERM took %s", took)
	}
	var handover time.Duration
	for handover == 0 {
		ev, _ := nextEmission(t, sc, 12*time.Second)
		if seq := seqOf(t, ev.id); seq != last+1 {
			handover = ev.at.Sub(stopped)
		} else {
			last = seq
		}
	}
	t.Logf("SIGTERM of the leader: exited in %s; first emission of the next leader after %s",
		took.Round(time.Millisecond), handover.Round(time.Millisecond))
	if handover > 5*time.Second {
		t.Fatalf("the handover on SIGTERM took %s: the lease was not released", handover)
	}
	if !strings.Contains(b.logs.String(), "feed lease given up") {
		t.Fatal("the stopping leader did not release the lease")
	}
}

// TestClusterThreeStartTogether: three instances started at once elect exactly one
// leader, and all three send a user the same emissions under the same ids, byte for byte.
func TestClusterThreeStartTogether(t *testing.T) {
	env, client, prefix := clusterEnv(t)
	procs := []*proc{mustLaunch(t, "A", env), mustLaunch(t, "B", env), mustLaunch(t, "C", env)}
	for _, p := range procs {
		p.waitListening(t)
	}
	waitUntil(t, 15*time.Second, "a leader", func() bool { return leaseHolder(client, prefix) != "" })
	u := mustSignUp(t, procs[0].URL, "three@example.com")
	var streams []*sseStream
	for _, p := range procs {
		streams = append(streams, u.stream(t, p.URL, "/stream?format=json", ""))
	}
	seen := make([]map[string]string, len(procs))
	for i, s := range streams {
		seen[i] = map[string]string{}
		var lat []time.Duration
		for range 8 {
			ev, e := nextEmission(t, s, 10*time.Second)
			seen[i][ev.id] = ev.data
			lat = append(lat, ev.at.Sub(time.UnixMilli(e.EmittedAt)))
		}
		slices.Sort(lat)
		t.Logf("%s: from the leader's emission to this client over Redis: median %s, max %s",
			procs[i].name, lat[len(lat)/2].Round(100*time.Microsecond), lat[len(lat)-1].Round(100*time.Microsecond))
	}
	common := 0
	for id, data := range seen[0] {
		if d1, ok1 := seen[1][id]; ok1 {
			if d2, ok2 := seen[2][id]; ok2 {
				if d1 != data || d2 != data {
					t.Fatalf("emission %s differs between instances:\n%s\n%s\n%s", id, data, d1, d2)
				}
				common++
			}
		}
	}
	if common < 4 {
		t.Fatalf("only %d emissions seen on all three instances", common)
	}
	leaders := 0
	for _, p := range procs {
		leaders += p.count("feed lease acquired")
	}
	h := leaseHolder(client, prefix)
	if leaders != 1 {
		t.Fatalf("%d lease acquisitions among three instances started together", leaders)
	}
	found := false
	for _, p := range procs {
		found = found || p.Instance == h
	}
	if !found {
		t.Fatalf("the lease names %q, none of the three", h)
	}
	t.Logf("one leader (%s); %d emissions identical on all three instances", h, common)

	// A follower shows the leader's feed figures and its own cluster figures, and serves
	// the leader's symbol data.
	var follower *proc
	for _, p := range procs {
		if p.Instance != h {
			follower = p
		}
	}
	var out bytes.Buffer
	userEnv := map[string]string{"DATABASE_URL": env["DATABASE_URL"], "TICKSTOCK_PASSWORD": "admin-password"}
	if err := run(context.Background(), []string{"user", "add", "--email", "root@example.com", "--admin"},
		func(k string) string { return userEnv[k] }, &out); err != nil {
		t.Fatalf("user add: %v\n%s", err, out.String())
	}
	c := newWebClient(t, follower.URL)
	c.get("/auth/login")
	if code := c.post("/auth/login", url.Values{"email": {"root@example.com"}, "password": {"admin-password"}}); code != 303 {
		t.Fatalf("admin login on %s: %d", follower.name, code)
	}
	var m struct {
		Feed struct {
			Source     string  `json:"source"`
			TicksTotal float64 `json:"ticks_total"`
		} `json:"feed"`
		Cluster *struct {
			Role        string `json:"role"`
			LeaseHolder string `json:"lease_holder"`
		} `json:"cluster"`
	}
	waitUntil(t, 10*time.Second, "the leader's feed figures on "+follower.name, func() bool {
		code, body := c.get("/api/admin/metrics")
		if code != 200 || json.Unmarshal([]byte(body), &m) != nil {
			t.Fatalf("/api/admin/metrics on %s: %d %s", follower.name, code, body)
		}
		return m.Feed.TicksTotal > 0
	})
	if m.Feed.Source != "sim" || m.Cluster == nil || m.Cluster.Role != "follower" || m.Cluster.LeaseHolder != h {
		t.Fatalf("/api/admin/metrics on %s: %+v, cluster %+v", follower.name, m.Feed, m.Cluster)
	}
	if has, ticks := c.symbolState("AAPL"); !has || ticks == 0 {
		t.Fatalf("AAPL on %s: has data %v, %d ticks", follower.name, has, ticks)
	}
}

// TestClusterResumeOnAnotherInstance: a tab streams from A and leaves; it comes back to B
// with its Last-Event-ID and gets exactly what it missed, in order, then live emissions:
// the same bytes another tab got from A meanwhile.
func TestClusterResumeOnAnotherInstance(t *testing.T) {
	env, _, _ := clusterEnv(t)
	a := startProc(t, "A", env)
	b := startProc(t, "B", env)
	u := mustSignUp(t, a.URL, "resume@example.com")
	for _, format := range []string{"json", "html"} {
		staying := u.stream(t, a.URL, "/stream?format="+format, "")
		leaving := u.stream(t, a.URL, "/stream?format="+format, "")
		var lastID string
		for n := 0; n < 3; {
			ev, ok := leaving.next(t, 10*time.Second)
			if !ok {
				t.Fatal("stream ended")
			}
			if ev.id != "" {
				lastID = ev.id
				if ev.name == "market" || ev.name == "dual_universe_stock_data" { // an emission's last event
					n++
				}
			}
		}
		leaving.cancel()
		time.Sleep(2500 * time.Millisecond) // about five emissions go by

		back := u.stream(t, b.URL, "/stream?format="+format, lastID)
		ref := map[string]sseEvent{}
		var resumed []sseEvent
		for len(resumed) < 12 {
			ev, ok := back.next(t, 10*time.Second)
			if !ok {
				t.Fatal("the resumed stream ended")
			}
			if ev.name == "reset" {
				t.Fatalf("%s: B answered the resume with a reset (%s)", format, ev.data)
			}
			if ev.id != "" {
				resumed = append(resumed, ev)
			}
		}
		for len(ref) < 200 {
			ev, ok := staying.next(t, 10*time.Second)
			if !ok {
				t.Fatal("the staying stream ended")
			}
			if ev.id != "" {
				ref[ev.id] = ev
			}
			if _, ok := ref[resumed[len(resumed)-1].id]; ok {
				break
			}
		}
		prev := lastID
		for i, ev := range resumed {
			if !idAfter(t, ev.id, prev) {
				t.Fatalf("%s: resumed event %d has id %s after %s", format, i, ev.id, prev)
			}
			if seqOf(t, ev.id) > seqOf(t, prev)+1 {
				t.Fatalf("%s: resumed event %d (%s) skips emissions after %s", format, i, ev.id, prev)
			}
			r, ok := ref[ev.id]
			if !ok || r.name != ev.name || r.data != ev.data {
				t.Fatalf("%s: event %s from B differs from A's", format, ev.id)
			}
			prev = ev.id
		}
		t.Logf("%s: resumed on B after %s with %d events, identical to A's", format, lastID, len(resumed))
		staying.cancel()
		back.cancel()
	}
}

// idAfter reports whether SSE id x comes after y ("seq.part").
func idAfter(tb testing.TB, x, y string) bool {
	tb.Helper()
	xs, ys := seqOf(tb, x), seqOf(tb, y)
	if xs != ys {
		return xs > ys
	}
	xp, _ := strconv.Atoi(strings.Split(x, ".")[1])
	yp, _ := strconv.Atoi(strings.Split(y, ".")[1])
	return xp > yp
}

// privateRedis is a redis-server of the test's own, which keeps its data on disk (as a
// production Redis does) so a graceful restart keeps sessions.
type privateRedis struct {
	tb   testing.TB
	port int
	dir  string
	cmd  *exec.Cmd
}

func mustPrivateRedis(tb testing.TB) *privateRedis {
	tb.Helper()
	p := &privateRedis{tb: tb, port: freePort(tb), dir: tb.TempDir()}
	p.start()
	tb.Cleanup(p.kill)
	return p
}

func (p *privateRedis) start() {
	p.tb.Helper()
	p.cmd = exec.Command("redis-server", "--port", strconv.Itoa(p.port), "--bind", "127.0.0.1",
		"--dir", p.dir, "--save", "3600 1", "--appendonly", "no")
	if err := p.cmd.Start(); err != nil {
		p.tb.Fatalf("start redis-server: %v", err)
	}
	waitUntil(p.tb, 10*time.Second, "redis-server to answer", func() bool {
		c := redis.NewClient(&redis.Options{Addr: p.addr()})
		defer c.Close()
		return c.Ping(context.Background()).Err() == nil
	})
}

// stop shuts Redis down gracefully: it saves its data first.
func (p *privateRedis) stop() {
	if p.cmd != nil {
		p.cmd.Process.Signal(os.Interrupt)
		p.cmd.Wait()
		p.cmd = nil
	}
}

// kill ends Redis with SIGKILL and forgets its data: it comes back empty.
func (p *privateRedis) kill() {
	if p.cmd != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		p.cmd = nil
	}
	os.Remove(filepath.Join(p.dir, "dump.rdb"))
}

func (p *privateRedis) addr() string { return fmt.Sprintf("127.0.0.1:%d", p.port) }

func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestClusterRedisAndDatabaseRestarts: Redis restarts under two instances with open
// streams: /readyz dips and recovers, the streams stay open and carry emissions again,
// and no instance crashes. PostgreSQL going away under one instance dips its /readyz
// only, and its streams go on. A Redis that comes back empty has lost the sessions: the
// instances notice on reconnecting (resync), end those streams with logout, and a new
// sign-in streams again.
func TestClusterRedisAndDatabaseRestarts(t *testing.T) {
	srv := mustPrivateRedis(t)
	dbURL := testenv.MustDatabase(t)
	pg := faultproxy.MustStart(t, testenv.MustHostPort(t, dbURL))
	env := map[string]string{"DATABASE_URL": dbURL, "REDIS_URL": "redis://" + srv.addr() + "/0"}
	envA := map[string]string{"DATABASE_URL": testenv.WithHostPort(t, dbURL, pg.Addr()), "REDIS_URL": env["REDIS_URL"]}
	a := startProc(t, "A", envA)
	b := startProc(t, "B", env)
	u := mustSignUp(t, a.URL, "restarts@example.com")
	sa := u.stream(t, a.URL, "/stream?format=json", "")
	sb := u.stream(t, b.URL, "/stream?format=json", "")
	nextEmission(t, sa, 10*time.Second)
	nextEmission(t, sb, 10*time.Second)

	// A graceful Redis restart, two seconds down.
	srv.stop()
	down := time.Now()
	waitUntil(t, 5*time.Second, "/readyz to dip on both", func() bool { return a.ready() == 503 && b.ready() == 503 })
	time.Sleep(time.Until(down.Add(2 * time.Second)))
	srv.start()
	up := time.Now().UnixMilli()
	waitUntil(t, 15*time.Second, "/readyz to recover on both", func() bool { return a.ready() == 200 && b.ready() == 200 })
	for name, s := range map[string]*sseStream{"A": sa, "B": sb} {
		for {
			_, e := nextEmission(t, s, 15*time.Second)
			if e.EmittedAt > up {
				break
			}
		}
		t.Logf("stream on %s carries emissions again after the Redis restart", name)
	}

	// PostgreSQL away under A only.
	pg.Down()
	waitUntil(t, 10*time.Second, "A's /readyz to dip", func() bool { return a.ready() == 503 })
	if b.ready() != 200 {
		t.Fatal("B became unready while only A lost PostgreSQL")
	}
	nextEmission(t, sa, 10*time.Second) // streams go on, on the last known settings
	pg.Up()
	waitUntil(t, 15*time.Second, "A's /readyz to recover", func() bool { return a.ready() == 200 })

	// Redis comes back empty: the sessions are gone.
	srv.kill()
	time.Sleep(time.Second)
	srv.start()
	lost := time.Now()
	endsWithLogoutWithin(t, sa, "expired", lost, 15*time.Second)
	endsWithLogoutWithin(t, sb, "expired", lost, 15*time.Second)
	t.Logf("streams of sessions lost with Redis's data ended %s after it came back", time.Since(lost).Round(time.Millisecond))
	if !a.alive() || !b.alive() {
		t.Fatal("an instance exited")
	}
	u2 := mustSignUp(t, b.URL, "after-restart@example.com")
	s := u2.stream(t, a.URL, "/stream?format=json", "")
	nextEmission(t, s, 15*time.Second)
	nextEmission(t, s, 5*time.Second)
}

// endsWithLogoutWithin is endsWithLogout with a longer allowance, for ends that wait for
// a reconnect.
func endsWithLogoutWithin(tb testing.TB, s *sseStream, reason string, since time.Time, d time.Duration) {
	tb.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				tb.Fatal("the stream closed without a logout event")
			}
			if ev.name == "logout" {
				if ev.data != reason {
					tb.Fatalf("logout reason %q, want %q", ev.data, reason)
				}
				return
			}
		case <-deadline:
			tb.Fatalf("the stream did not end with logout within %s of %s", d, since.Format(time.TimeOnly))
		}
	}
}

var figuresRE = regexp.MustCompile(`msg="cluster: figures".* goroutines=(\d+)`)

// TestClusterSoak runs 200 streams on two instances for a few minutes (TICKSTOCK_SOAK,
// default 3m) and checks that memory and goroutines stay flat: the last minute's figures
// against the first's. Every stream must stay open and keep receiving.
func TestClusterSoak(t *testing.T) {
	d := 3 * time.Minute
	if v := os.Getenv("TICKSTOCK_SOAK"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil || d < 2*time.Minute {
			t.Fatalf("TICKSTOCK_SOAK=%q: want a duration of at least 2m", v)
		}
	}
	env, _, _ := clusterEnv(t)
	a := startProc(t, "A", env)
	b := startProc(t, "B", env)
	const users, perUser = 40, 5
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	var streams []*sseStream
	for i := range users {
		m := mustSignUp(t, a.URL, fmt.Sprintf("soak%02d@example.com", i))
		for j := range perUser {
			p := []*proc{a, b}[(i+j)%2]
			s := m.stream(t, p.URL, "/stream?format=json", "")
			if s.status != 200 {
				t.Fatalf("soak stream %d/%d: %d", i, j, s.status)
			}
			streams = append(streams, s)
			k := len(streams) - 1
			wg.Go(func() {
				for ev := range s.events {
					if ev.name == "dual_universe_stock_data" {
						mu.Lock()
						counts[k]++
						mu.Unlock()
					}
				}
			})
		}
	}
	start := time.Now()
	type sample struct {
		at         time.Duration
		rssA, rssB int64
	}
	var samples []sample
	for m := 1; time.Duration(m)*time.Minute <= d; m++ {
		time.Sleep(time.Until(start.Add(time.Duration(m) * time.Minute)))
		samples = append(samples, sample{time.Since(start), a.rss(t), b.rss(t)})
		t.Logf("minute %d: RSS A %.1f MiB, B %.1f MiB", m, mib(samples[len(samples)-1].rssA), mib(samples[len(samples)-1].rssB))
	}
	mu.Lock()
	for k := range streams {
		if counts[k] < int(d/time.Second) { // 500 ms emissions: about two a second
			t.Errorf("stream %d got only %d emissions in %s", k, counts[k], d)
		}
	}
	mu.Unlock()
	for _, p := range []*proc{a, b} {
		gs := figuresRE.FindAllStringSubmatch(p.logs.String(), -1)
		if len(gs) < 2 {
			t.Fatalf("%s logged its figures %d times in %s", p.name, len(gs), d)
		}
		first, _ := strconv.Atoi(gs[0][1])
		last, _ := strconv.Atoi(gs[len(gs)-1][1])
		t.Logf("%s goroutines: first minute %d, last minute %d", p.name, first, last)
		if last > first+first/50+10 {
			t.Errorf("%s goroutines grew from %d to %d", p.name, first, last)
		}
	}
	f, l := samples[0], samples[len(samples)-1]
	for name, pair := range map[string][2]int64{"A": {f.rssA, l.rssA}, "B": {f.rssB, l.rssB}} {
		if pair[1] > pair[0]+pair[0]/5+16<<20 {
			t.Errorf("%s RSS grew from %.1f to %.1f MiB", name, mib(pair[0]), mib(pair[1]))
		}
	}
	for _, s := range streams {
		s.cancel()
	}
	wg.Wait()
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
