package setup

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tickstock/tickstock/internal/testenv"
)

// debianHBA is the pg_hba.conf Debian 12 writes for a new cluster.
const debianHBA = `# Database administrative login by Unix domain socket
local   all             postgres                                peer

# TYPE  DATABASE        USER            ADDRESS                 METHOD

# "local" is for Unix domain socket connections only
local   all             all                                     peer
# IPv4 local connections:
host    all             all             127.0.0.1/32            scram-sha-256
# IPv6 local connections:
host    all             all             ::1/128                 scram-sha-256
# Allow replication connections from localhost, by a user with the
# replication privilege.
local   replication     all                                     peer
host    replication     all             127.0.0.1/32            scram-sha-256
host    replication     all             ::1/128                 scram-sha-256
`

func TestTrustLoopback(t *testing.T) {
	got, changed := TrustLoopback(debianHBA)
	want := strings.NewReplacer(
		"host    all             all             127.0.0.1/32            scram-sha-256",
		"host    all             all             127.0.0.1/32            trust",
		"host    all             all             ::1/128                 scram-sha-256",
		"host    all             all             ::1/128                 trust",
	).Replace(debianHBA)
	if got != want {
		t.Fatalf("rewritten pg_hba.conf:\n%s", got)
	}
	if len(changed) != 2 || !strings.Contains(changed[0], "127.0.0.1/32            scram-sha-256  →  host") {
		t.Fatalf("changed lines %q", changed)
	}
	if again, changed := TrustLoopback(got); again != got || changed != nil {
		t.Fatalf("a second rewrite changed %q", changed)
	}
	commented := "# host all all 127.0.0.1/32 md5\nhost all all 10.0.0.0/8 md5\n"
	if out, changed := TrustLoopback(commented); out != commented || changed != nil {
		t.Fatalf("rewrote comments or other networks: %q", changed)
	}
}

// fakePostgres answers PostgreSQL startup messages with what answer returns: it stands in
// for servers with login rules the shared test server does not have.
func fakePostgres(tb testing.TB, answer func() []byte) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var n uint32
				if binary.Read(c, binary.BigEndian, &n) != nil || n < 8 {
					return
				}
				if _, err := io.CopyN(io.Discard, c, int64(n-4)); err != nil {
					return
				}
				c.Write(answer())      //nolint:errcheck
				io.Copy(io.Discard, c) //nolint:errcheck
			}()
		}
	}()
	return ln.Addr().String()
}

// pgMessage frames one backend message.
func pgMessage(typ byte, body []byte) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{typ}, uint32(len(body)+4)), body...)
}

var (
	pgAuthOK   = pgMessage('R', []byte{0, 0, 0, 0})
	pgAuthSASL = pgMessage('R', append([]byte{0, 0, 0, 10}, "SCRAM-SHA-256\x00\x00"...))
	pgNoHBA    = pgMessage('E', []byte("SFATAL\x00C28000\x00Mno pg_hba.conf entry for host \"127.0.0.1\"\x00\x00"))
	pgStarting = pgMessage('E', []byte("SFATAL\x00C57P03\x00Mthe database system is starting up\x00\x00"))
)

func TestProbePostgres(t *testing.T) {
	u, err := url.Parse(testenv.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	tests := []struct {
		name string
		addr string
		want pgStatus
		msg  string
	}{
		{"the test server", hostPort(u, "5432"), pgOK, ""},
		{"password wanted", fakePostgres(t, func() []byte { return pgAuthSASL }), pgPassword, "password"},
		{"no pg_hba entry", fakePostgres(t, func() []byte { return pgNoHBA }), pgRefused, "no pg_hba.conf entry"},
		{"starting up", fakePostgres(t, func() []byte { return pgStarting }), pgDown, "starting up"},
		{"nothing listening", closedAddr, pgDown, "refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, detail := probePostgres(context.Background(), tc.addr, "postgres", "postgres")
			if st != tc.want || !strings.Contains(detail, tc.msg) {
				t.Fatalf("probe = %v %q, want %v %q", st, detail, tc.want, tc.msg)
			}
		})
	}
}

func TestProbeRedis(t *testing.T) {
	u, err := url.Parse(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	if ok, detail := probeRedis(context.Background(), hostPort(u, "6379"), false); !ok {
		t.Fatalf("the test Redis: %s", detail)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("-NOAUTH Authentication required.\r\n")) //nolint:errcheck
			c.Close()
		}
	}()
	if ok, _ := probeRedis(context.Background(), ln.Addr().String(), false); ok {
		t.Fatal("a Redis that wants a password counts as ready for password-less tests")
	}
	if ok, detail := probeRedis(context.Background(), ln.Addr().String(), true); !ok {
		t.Fatalf("a Redis that wants the password the URL has: %s", detail)
	}
}

// mustCluster lays out a Debian cluster's config under the fake root.
func (f *fakeMachine) mustCluster(tb testing.TB, version, hba string) string {
	tb.Helper()
	dir := filepath.Join(f.root, "etc", "postgresql", version, "main")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, "pg_hba.conf")
	if err := os.WriteFile(path, []byte(hba), 0o640); err != nil {
		tb.Fatal(err)
	}
	return path
}

// TestFreshClusterGetsTrust: a cluster the install just made asks for passwords; setup
// switches its loopback lines to trust, says so, keeps a backup and reloads. A cluster it
// did not make is left alone, and the message says what to change.
func TestFreshClusterGetsTrust(t *testing.T) {
	f := MustFakeMachine(t, "debian", "pg_ctlcluster", "redis-server")
	hba := f.mustCluster(t, "15", debianHBA)
	// The fake server lets postgres in once pg_hba.conf trusts 127.0.0.1, as a reload would.
	addr := fakePostgres(t, func() []byte {
		if b, _ := os.ReadFile(hba); strings.Contains(string(b), "127.0.0.1/32            trust") {
			return pgAuthOK
		}
		return pgAuthSASL
	})
	var out bytes.Buffer
	m := f.machine(true, nil, &out)
	m.PostgresURL = "postgres://postgres@" + addr + "/postgres"
	m.StartTimeout = time.Second

	err := m.testPostgres(context.Background(), false)
	want := "PostgreSQL on " + addr + " asks postgres for a password, and the tests log in without one.\n" +
		"Either allow it, e.g. put this line first among the host lines of /etc/postgresql/15/main/pg_hba.conf and reload PostgreSQL:\n\n" +
		"    host all postgres 127.0.0.1/32 trust\n\n" +
		"or set TEST_DATABASE_URL=postgres://postgres:PASSWORD@" + addr + "/postgres"
	if err == nil || err.Error() != want {
		t.Fatalf("existing cluster:\n%v\nwant:\n%s", err, want)
	}
	if got := mustRead(t, hba); got != debianHBA {
		t.Fatal("setup changed the pg_hba.conf of a cluster it did not create")
	}

	if err := m.testPostgres(context.Background(), true); err != nil {
		t.Fatalf("fresh cluster: %v\n%s", err, out.String())
	}
	if got := mustRead(t, hba+".tickstock-backup"); got != debianHBA {
		t.Fatal("no backup of the original pg_hba.conf")
	}
	for _, line := range []string{
		"setup: changed /etc/postgresql/15/main/pg_hba.conf (backup: /etc/postgresql/15/main/pg_hba.conf.tickstock-backup):",
		"setup:   host    all             all             127.0.0.1/32            scram-sha-256  →  host    all             all             127.0.0.1/32            trust",
		"setup:   host    all             all             ::1/128                 scram-sha-256  →  host    all             all             ::1/128                 trust",
	} {
		if !strings.Contains(out.String(), line+"\n") {
			t.Fatalf("output lacks %q:\n%s", line, out.String())
		}
	}
	if calls := f.calls(t); !equal(calls, []string{"pg_ctlcluster --skip-systemctl-redirect 15 main reload"}) {
		t.Fatalf("calls %q", calls)
	}
}

// TestServicesStartCommands: with nothing listening, setup starts PostgreSQL's newest
// cluster and Redis with the exact commands, and says so when they still do not answer.
func TestServicesStartCommands(t *testing.T) {
	down := func(tb testing.TB) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		ln.Close()
		return ln.Addr().String()
	}

	t.Run("postgres as root", func(t *testing.T) {
		f := MustFakeMachine(t, "debian", "pg_ctlcluster")
		f.mustCluster(t, "13", debianHBA)
		f.mustCluster(t, "15", debianHBA)
		m := f.machine(true, nil, &bytes.Buffer{})
		addr := down(t)
		m.PostgresURL, m.StartTimeout = "postgres://postgres@"+addr+"/postgres", 300*time.Millisecond
		err := m.testPostgres(context.Background(), false)
		if err == nil || !strings.Contains(err.Error(), "PostgreSQL 15/main was started but does not answer on "+addr) {
			t.Fatalf("error %v", err)
		}
		if calls := f.calls(t); !equal(calls, []string{"pg_ctlcluster --skip-systemctl-redirect 15 main start"}) {
			t.Fatalf("calls %q", calls)
		}
	})

	t.Run("postgres without a cluster", func(t *testing.T) {
		f := MustFakeMachine(t, "debian", "pg_ctlcluster", "pg_createcluster")
		if err := os.MkdirAll(filepath.Join(f.root, "usr", "lib", "postgresql", "16", "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		m := f.machine(true, nil, &bytes.Buffer{})
		m.PostgresURL, m.StartTimeout = "postgres://postgres@"+down(t)+"/postgres", 300*time.Millisecond
		if err := m.testPostgres(context.Background(), false); err == nil {
			t.Fatal("no error although nothing answers")
		}
		want := []string{"pg_createcluster 16 main", "pg_ctlcluster --skip-systemctl-redirect 16 main start"}
		if calls := f.calls(t); !equal(calls, want) {
			t.Fatalf("calls %q, want %q", calls, want)
		}
	})

	t.Run("postgres, not root, no sudo", func(t *testing.T) {
		f := MustFakeMachine(t, "debian", "pg_ctlcluster")
		f.mustCluster(t, "15", debianHBA)
		m := f.machine(false, nil, &bytes.Buffer{})
		addr := down(t)
		m.PostgresURL = "postgres://postgres@" + addr + "/postgres"
		err := m.testPostgres(context.Background(), false)
		want := "PostgreSQL does not answer on " + addr + " (dial tcp " + addr + ": connect: connection refused). " +
			"Setup cannot start it: not running as root, and there is no sudo. Run:\n\n" +
			"    sudo pg_ctlcluster --skip-systemctl-redirect 15 main start\n\nthen run the command again"
		if err == nil || err.Error() != want {
			t.Fatalf("error:\n%v\nwant:\n%s", err, want)
		}
		if calls := f.calls(t); calls != nil {
			t.Fatalf("calls %q", calls)
		}
	})

	t.Run("redis through sudo", func(t *testing.T) {
		f := MustFakeMachine(t, "debian", "redis-server")
		f.sudo(t, "0")
		m := f.machine(false, nil, &bytes.Buffer{})
		addr := down(t)
		m.RedisURL, m.StartTimeout = "redis://"+addr+"/0", 300*time.Millisecond
		err := m.testRedis(context.Background())
		if err == nil || !strings.Contains(err.Error(), "redis-server was started but does not answer on "+addr) {
			t.Fatalf("error %v", err)
		}
		port := addr[strings.LastIndex(addr, ":")+1:]
		want := []string{
			"sudo -n true",
			"sudo -n mkdir -p /var/lib/redis /var/log/redis",
			"sudo -n redis-server --daemonize yes --bind 127.0.0.1 -::1 --port " + port +
				" --save  --appendonly no --dir /var/lib/redis --logfile /var/log/redis/tickstock-test.log",
			"redis-server --daemonize yes --bind 127.0.0.1 -::1 --port " + port +
				" --save  --appendonly no --dir /var/lib/redis --logfile /var/log/redis/tickstock-test.log",
		}
		if calls := f.calls(t); !equal(calls, want) {
			t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
		}
	})

	t.Run("TICKSTOCK_NO_INSTALL starts nothing", func(t *testing.T) {
		f := MustFakeMachine(t, "debian", "redis-server")
		m := f.machine(true, map[string]string{"TICKSTOCK_NO_INSTALL": "1"}, &bytes.Buffer{})
		addr := down(t)
		port := addr[strings.LastIndex(addr, ":")+1:]
		m.RedisURL = "redis://" + addr + "/0"
		err := m.testRedis(context.Background())
		want := "Redis does not answer on " + addr + " (dial tcp " + addr + ": connect: connection refused). " +
			"Setup cannot start it: TICKSTOCK_NO_INSTALL is set. Run:\n\n" +
			"    mkdir -p /var/lib/redis /var/log/redis && redis-server --daemonize yes --bind 127.0.0.1 -::1 --port " + port +
			" --save '' --appendonly no --dir /var/lib/redis --logfile /var/log/redis/tickstock-test.log\n\nthen run the command again"
		if err == nil || err.Error() != want {
			t.Fatalf("error:\n%v\nwant:\n%s", err, want)
		}
		if calls := f.calls(t); calls != nil {
			t.Fatalf("calls %q", calls)
		}
	})
}
