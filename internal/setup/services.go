package setup

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// The addresses the tests use unless TEST_DATABASE_URL / TEST_REDIS_URL say otherwise.
const (
	testPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres"
	testRedisURL    = "redis://127.0.0.1:6379/0"
)

// pgStatus is what a PostgreSQL server said to a password-less login.
type pgStatus int

const (
	pgDown     pgStatus = iota // nothing answers, or the server is still starting
	pgOK                       // logged in without a password
	pgPassword                 // the server asks for a password
	pgRefused                  // the server refused the login (pg_hba, unknown role, ...)
)

// probePostgres tries a password-less login the way the tests will make it, speaking just
// enough of the wire protocol to see which authentication the server asks for.
func probePostgres(ctx context.Context, addr, user, database string) (pgStatus, string) {
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return pgDown, err.Error()
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))

	var body bytes.Buffer
	binary.Write(&body, binary.BigEndian, int32(196608)) //nolint:errcheck // protocol 3.0
	for _, kv := range []string{"user", user, "database", database} {
		body.WriteString(kv)
		body.WriteByte(0)
	}
	body.WriteByte(0)
	msg := binary.BigEndian.AppendUint32(nil, uint32(body.Len()+4))
	if _, err := conn.Write(append(msg, body.Bytes()...)); err != nil {
		return pgDown, err.Error()
	}
	r := bufio.NewReader(conn)
	typ, err := r.ReadByte()
	if err != nil {
		return pgDown, err.Error()
	}
	var n uint32
	if err := binary.Read(r, binary.BigEndian, &n); err != nil || n < 4 || n > 1<<16 {
		return pgDown, "malformed answer"
	}
	payload := make([]byte, n-4)
	if _, err := io.ReadFull(r, payload); err != nil {
		return pgDown, err.Error()
	}
	switch typ {
	case 'R':
		if len(payload) < 4 {
			return pgDown, "malformed authentication request"
		}
		if binary.BigEndian.Uint32(payload) == 0 {
			conn.Write([]byte{'X', 0, 0, 0, 4}) //nolint:errcheck // Terminate
			return pgOK, ""
		}
		return pgPassword, "the server asks for a password"
	case 'E':
		fields := map[byte]string{}
		for _, f := range bytes.Split(payload, []byte{0}) {
			if len(f) > 1 {
				fields[f[0]] = string(f[1:])
			}
		}
		if fields['C'] == "57P03" { // cannot_connect_now: starting up
			return pgDown, fields['M']
		}
		return pgRefused, fields['M']
	}
	return pgDown, fmt.Sprintf("unexpected message %q", typ)
}

// probeRedis sends PING and reports whether Redis answered PONG (or, for a server with a
// password that the URL carries, asked for it).
func probeRedis(ctx context.Context, addr string, hasPassword bool) (bool, string) {
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, err.Error()
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false, err.Error()
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return false, err.Error()
	}
	line = strings.TrimSpace(line)
	switch {
	case line == "+PONG":
		return true, ""
	case strings.HasPrefix(line, "-NOAUTH") && hasPassword:
		return true, ""
	case strings.HasPrefix(line, "-LOADING"):
		return false, line
	}
	return false, "unexpected answer " + line
}

// hostPort is a URL's host:port, with the given default port.
func hostPort(u *url.URL, port string) string {
	host := u.Hostname()
	if host == "" {
		host = "localhost"
	}
	if p := u.Port(); p != "" {
		port = p
	}
	return net.JoinHostPort(host, port)
}

// TestServices makes sure PostgreSQL and Redis answer where the tests will look. Local
// defaults are started when down; a server named by TEST_DATABASE_URL or TEST_REDIS_URL is
// only checked. freshPostgres says this run installed PostgreSQL, so its new cluster's
// login rules may be set for the tests.
func (m *Machine) TestServices(ctx context.Context, freshPostgres bool) error {
	if err := m.testPostgres(ctx, freshPostgres); err != nil {
		return err
	}
	return m.testRedis(ctx)
}

func (m *Machine) testPostgres(ctx context.Context, fresh bool) error {
	raw, custom := m.getenv("TEST_DATABASE_URL"), true
	if raw == "" {
		raw, custom = m.PostgresURL, false
		if raw == "" {
			raw = testPostgresURL
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("TEST_DATABASE_URL: %w", err)
	}
	addr := hostPort(u, "5432")
	user, database := u.User.Username(), strings.TrimPrefix(u.Path, "/")
	if user == "" {
		user = "postgres"
	}
	if database == "" {
		database = user
	}
	st, detail := probePostgres(ctx, addr, user, database)
	if custom {
		// The tests log in with the URL's own password and TLS settings, so a server the
		// user named only has to answer.
		if st == pgDown {
			return fmt.Errorf("PostgreSQL at %s (TEST_DATABASE_URL) does not answer: %s; start it, or unset TEST_DATABASE_URL to use a local one", addr, detail)
		}
		return nil
	}
	var cluster string
	if st == pgDown {
		var created bool
		problem := fmt.Sprintf("PostgreSQL does not answer on %s (%s)", addr, detail)
		if cluster, created, err = m.startPostgres(ctx, problem); err != nil {
			return err
		}
		fresh = fresh || created
		if st, detail = m.waitPostgres(ctx, addr, user, database); st == pgDown {
			return fmt.Errorf("PostgreSQL %s was started but does not answer on %s: %s", cluster, addr, detail)
		}
	}
	switch st {
	case pgOK:
		return nil
	case pgPassword:
		if fresh {
			if cluster == "" {
				cluster = m.latestCluster()
			}
			if err := m.trustLoopback(ctx, cluster); err != nil {
				return err
			}
			if st, detail = m.waitPostgres(ctx, addr, user, database); st == pgOK {
				return nil
			}
			return fmt.Errorf("PostgreSQL on %s still refuses a password-less login as %s after the pg_hba.conf change: %s", addr, user, detail)
		}
		return fmt.Errorf("PostgreSQL on %s asks %s for a password, and the tests log in without one.\n"+
			"Either allow it, e.g. put this line first among the host lines of %s and reload PostgreSQL:\n\n"+
			"    host all postgres 127.0.0.1/32 trust\n\n"+
			"or set TEST_DATABASE_URL=postgres://%s:PASSWORD@%s/postgres",
			addr, user, m.hbaPath(m.latestCluster()), user, addr)
	}
	return fmt.Errorf("PostgreSQL on %s refuses a login as %s: %s", addr, user, detail)
}

// waitPostgres probes until the server answers, at most StartTimeout.
func (m *Machine) waitPostgres(ctx context.Context, addr, user, database string) (pgStatus, string) {
	deadline := time.Now().Add(m.startTimeout())
	for {
		st, detail := probePostgres(ctx, addr, user, database)
		if st != pgDown || time.Now().After(deadline) || ctx.Err() != nil {
			return st, detail
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (m *Machine) startTimeout() time.Duration {
	if m.StartTimeout > 0 {
		return m.StartTimeout
	}
	return 30 * time.Second
}

// latestCluster is the newest Debian cluster "VERSION/main", or "".
func (m *Machine) latestCluster() string {
	if dirs := m.versionDirs("/etc/postgresql", "main"); len(dirs) > 0 {
		return filepath.Base(filepath.Dir(dirs[0])) + "/main"
	}
	return ""
}

func (m *Machine) hbaPath(cluster string) string {
	if cluster == "" {
		return "pg_hba.conf"
	}
	return filepath.Join("/etc/postgresql", cluster, "pg_hba.conf")
}

// startPostgres starts the newest Debian cluster, creating one first if the packages left
// none. It reports the cluster and whether it created it.
func (m *Machine) startPostgres(ctx context.Context, problem string) (string, bool, error) {
	cluster, created := m.latestCluster(), false
	if cluster == "" {
		bins := m.versionDirs("/usr/lib/postgresql", "bin")
		if len(bins) == 0 {
			return "", false, errors.New("no PostgreSQL cluster and no server binaries under /usr/lib/postgresql; install the postgresql package")
		}
		version := filepath.Base(filepath.Dir(bins[0]))
		cluster, created = version+"/main", true
		if err := m.privileged(ctx, "PostgreSQL has no cluster", "create one", []string{"pg_createcluster", version, "main"}); err != nil {
			return "", false, err
		}
	}
	version := strings.TrimSuffix(cluster, "/main")
	if !m.NoInstall() {
		fmt.Fprintf(m.out(), "setup: starting PostgreSQL %s\n", cluster)
	}
	if err := m.privileged(ctx, problem, "start it", []string{"pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"}); err != nil {
		return "", false, err
	}
	return cluster, created, nil
}

var hbaLoopback = regexp.MustCompile(`^(\s*host\s+all\s+all\s+(?:127\.0\.0\.1/32|::1/128)\s+)(\S+)(.*)$`)

// TrustLoopback rewrites pg_hba.conf so "host all all" logins over 127.0.0.1 and ::1 need
// no password, as the tests log in. It returns the new text and the lines it changed.
func TrustLoopback(hba string) (string, []string) {
	lines := strings.Split(hba, "\n")
	var changed []string
	for i, l := range lines {
		mm := hbaLoopback.FindStringSubmatch(l)
		if mm == nil || mm[2] == "trust" {
			continue
		}
		lines[i] = mm[1] + "trust" + mm[3]
		changed = append(changed, fmt.Sprintf("%s  →  %s", strings.TrimSpace(l), strings.TrimSpace(lines[i])))
	}
	return strings.Join(lines, "\n"), changed
}

// trustLoopback applies TrustLoopback to a cluster that this run created, keeps a backup,
// says what changed, and reloads the server.
func (m *Machine) trustLoopback(ctx context.Context, cluster string) error {
	if cluster == "" {
		return errors.New("PostgreSQL asks for a password, and no Debian cluster config was found to change")
	}
	path := m.hbaPath(cluster)
	old, err := m.readRootFile(ctx, path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	updated, changed := TrustLoopback(old)
	if len(changed) == 0 {
		return fmt.Errorf("PostgreSQL asks for a password, and %s has no \"host all all 127.0.0.1/32\" line to change", path)
	}
	if err := m.writeRootFile(ctx, path+".tickstock-backup", old); err != nil {
		return err
	}
	if err := m.writeRootFile(ctx, path, updated); err != nil {
		return err
	}
	fmt.Fprintf(m.out(), "setup: the new PostgreSQL cluster asks for passwords over TCP; the tests log in as postgres without one.\n"+
		"setup: changed %s (backup: %s.tickstock-backup):\n", path, path)
	for _, c := range changed {
		fmt.Fprintf(m.out(), "setup:   %s\n", c)
	}
	version := strings.TrimSuffix(cluster, "/main")
	return m.privileged(ctx, "PostgreSQL must reload its pg_hba.conf", "reload it",
		[]string{"pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "reload"})
}

func (m *Machine) testRedis(ctx context.Context) error {
	raw, custom := m.getenv("TEST_REDIS_URL"), true
	if raw == "" {
		raw, custom = m.RedisURL, false
		if raw == "" {
			raw = testRedisURL
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("TEST_REDIS_URL: %w", err)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), "6379")
	}
	addr := hostPort(u, "6379")
	_, hasPw := u.User.Password()
	ok, detail := probeRedis(ctx, addr, hasPw)
	if ok {
		return nil
	}
	if custom {
		return fmt.Errorf("redis at %s (TEST_REDIS_URL) does not answer PING: %s", addr, detail)
	}
	if !m.NoInstall() {
		fmt.Fprintf(m.out(), "setup: starting redis-server on %s\n", addr)
	}
	err = m.privileged(ctx, fmt.Sprintf("Redis does not answer on %s (%s)", addr, detail), "start it",
		[]string{"mkdir", "-p", "/var/lib/redis", "/var/log/redis"},
		[]string{"redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", u.Port(),
			"--save", "", "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/tickstock-test.log"})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(m.startTimeout())
	for {
		if ok, detail = probeRedis(ctx, addr, false); ok {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("redis-server was started but does not answer on %s: %s", addr, detail)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
