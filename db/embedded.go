package db

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoPostgres means no PostgreSQL server binaries were found for the embedded database.
var ErrNoPostgres = errors.New("no PostgreSQL server binaries found (looked at `pg_config --bindir`, /usr/lib/postgresql/*/bin and PATH): install PostgreSQL (for example `apt-get install postgresql`) or set DATABASE_URL")

// Embedded is a private PostgreSQL cluster kept under the data directory, so the app runs
// with zero configuration. It listens only on a Unix socket inside that directory.
type Embedded struct {
	URL    string
	cmd    *exec.Cmd
	done   chan error
	logger *slog.Logger
	log    *os.File
}

// embeddedDatabase is the database the app uses inside the embedded cluster.
const embeddedDatabase = "tickstock"

// EmbeddedConfig says where the embedded cluster lives.
type EmbeddedConfig struct {
	// Dir is TICKSTOCK_DATA_DIR.
	Dir string
	// Default is true when Dir is the built-in default rather than the operator's choice.
	// Then, as root, a Dir the unprivileged cluster user cannot reach (a clone under /root,
	// the usual case on a fresh machine) moves to a directory under FallbackRoot instead of
	// stopping the start: zero configuration must work there too. A Dir the operator chose
	// is never moved; the error names the fix.
	Default bool
	// FallbackRoot is where such a cluster goes (default /var/lib/tickstock); each data
	// directory gets its own subdirectory, so two clones never share a cluster.
	FallbackRoot string
}

// StartEmbedded starts (creating on first use) the cluster under cfg.Dir and returns once it
// accepts connections. When the program runs as root, the cluster runs as the `postgres`
// user, or `nobody`, because PostgreSQL refuses to run as root.
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig, logger *slog.Logger) (*Embedded, error) {
	bin, err := findPostgresBin()
	if err != nil {
		return nil, fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	root, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("embedded PostgreSQL: resolve TICKSTOCK_DATA_DIR: %w", err)
	}
	cred, err := clusterCredential()
	if err != nil {
		return nil, fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	if cred != nil && cfg.Default {
		if err := checkTraversable(root, cred.Uid); err != nil {
			moved := FallbackDir(cmp.Or(cfg.FallbackRoot, "/var/lib/tickstock"), root)
			logger.Warn("the default data directory is out of the cluster user's reach; using another",
				"TICKSTOCK_DATA_DIR", root, "dir", moved, "reason", err)
			root = moved
			if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
				return nil, fmt.Errorf("embedded PostgreSQL: create %s: %w", filepath.Dir(root), err)
			}
		}
	}
	pgdata := filepath.Join(root, "pg")
	sockDir := filepath.Join(root, "run")
	if len(sockDir)+len("/.s.PGSQL.5432.lock") > 100 {
		return nil, fmt.Errorf("embedded PostgreSQL: TICKSTOCK_DATA_DIR %q is too long for a Unix socket path; choose a shorter one", root)
	}
	for _, d := range []string{root, sockDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("embedded PostgreSQL: create %s: %w", d, err)
		}
	}

	if cred != nil {
		if err := checkTraversable(root, cred.Uid); err != nil {
			return nil, fmt.Errorf("embedded PostgreSQL: %w", err)
		}
		for _, d := range []string{root, sockDir} {
			if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, fmt.Errorf("embedded PostgreSQL: chown %s: %w", d, err)
			}
		}
	}

	logPath := filepath.Join(root, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("embedded PostgreSQL: open log: %w", err)
	}

	if _, err := os.Stat(filepath.Join(pgdata, "PG_VERSION")); errors.Is(err, fs.ErrNotExist) {
		logger.Info("creating embedded PostgreSQL cluster", "dir", pgdata, "bin", bin)
		initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", pgdata, "-U", "postgres",
			"--auth=trust", "--encoding=UTF8", "--no-locale", "--no-instructions")
		var out bytes.Buffer
		initdb.Stdout, initdb.Stderr = &out, &out
		initdb.SysProcAttr = procAttr(cred)
		if err := initdb.Run(); err != nil {
			logFile.Close()
			return nil, fmt.Errorf("embedded PostgreSQL: initdb: %w: %s", err, strings.TrimSpace(out.String()))
		}
	}

	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", pgdata,
		"-c", "listen_addresses=", "-c", "unix_socket_directories="+sockDir,
		"-c", "unix_socket_permissions=0700", "-c", "max_connections=100")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = procAttr(cred)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("embedded PostgreSQL: start postgres: %w", err)
	}
	e := &Embedded{cmd: cmd, done: make(chan error, 1), logger: logger, log: logFile}
	go func() { e.done <- cmd.Wait() }()

	q := url.Values{"host": {sockDir}, "sslmode": {"disable"}}
	adminURL := "postgres://postgres@/postgres?" + q.Encode()
	e.URL = "postgres://postgres@/" + embeddedDatabase + "?" + q.Encode()

	if err := e.waitReady(ctx, adminURL, logPath); err != nil {
		e.Stop(context.Background())
		return nil, err
	}
	if err := ensureDatabase(ctx, adminURL); err != nil {
		e.Stop(context.Background())
		return nil, fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	logger.Info("embedded PostgreSQL ready", "dir", pgdata, "socket", sockDir)
	return e, nil
}

func (e *Embedded) waitReady(ctx context.Context, adminURL, logPath string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-e.done:
			e.done <- err
			return fmt.Errorf("embedded PostgreSQL exited during start (%v): %s", err, tail(logPath))
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(pctx, adminURL)
		cancel()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("embedded PostgreSQL did not accept connections: %w: %s", err, tail(logPath))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// immediateStop is how long before ctx's deadline Stop gives up on a clean shutdown and
// tells the cluster to stop at once.
const immediateStop = 1500 * time.Millisecond

// Stop shuts the cluster down by ctx's deadline (10 s without one). It asks for a fast
// shutdown (sessions end, a checkpoint is written); if that has not finished shortly before
// the deadline, an immediate one (the next start recovers from the WAL, losing nothing
// committed); and if even that has not finished by the deadline, it kills the postmaster.
func (e *Embedded) Stop(ctx context.Context) error {
	if e == nil || e.cmd == nil || e.cmd.Process == nil {
		return nil
	}
	defer e.log.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	wait := func(until time.Time) bool {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		select {
		case err := <-e.done:
			e.done <- err
			return true
		case <-t.C:
			return false
		}
	}
	_ = e.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	if wait(deadline.Add(-immediateStop)) {
		return nil
	}
	e.logger.Warn("embedded PostgreSQL: fast shutdown is slow; stopping immediately")
	_ = e.cmd.Process.Signal(syscall.SIGQUIT) // immediate shutdown
	if wait(deadline) {
		return nil
	}
	_ = e.cmd.Process.Kill()
	return errors.New("embedded PostgreSQL did not stop in time; killed")
}

func ensureDatabase(ctx context.Context, adminURL string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", embeddedDatabase).Scan(&exists); err != nil {
		return fmt.Errorf("look up database: %w", err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+embeddedDatabase); err != nil {
			return fmt.Errorf("create database: %w", err)
		}
	}
	return nil
}

func findPostgresBin() (string, error) {
	var candidates []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	globbed, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(globbed, func(i, j int) bool { return versionOf(globbed[i]) > versionOf(globbed[j]) })
	candidates = append(candidates, globbed...)
	if p, err := exec.LookPath("postgres"); err == nil {
		candidates = append(candidates, filepath.Dir(p))
	}
	for _, dir := range candidates {
		if isExecutable(filepath.Join(dir, "postgres")) && isExecutable(filepath.Join(dir, "initdb")) {
			return dir, nil
		}
	}
	return "", ErrNoPostgres
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// clusterCredential picks the unprivileged user the cluster runs as when we are root.
func clusterCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root, and neither a `postgres` nor a `nobody` user exists to run the cluster; create one or set DATABASE_URL")
}

// FallbackDir is the cluster's home under base for the unreachable data directory dir:
// the directory's base name plus a short hash of its absolute path.
func FallbackDir(base, dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(base, filepath.Base(dir)+"-"+hex.EncodeToString(sum[:4]))
}

// checkTraversable fails early, with the fix, when the unprivileged cluster user could not
// reach the data directory (for example one under /root).
func checkTraversable(dir string, uid uint32) error {
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if st.Mode().Perm()&0o001 == 0 && !(ok && sys.Uid == uid && st.Mode().Perm()&0o100 != 0) {
			return fmt.Errorf("the cluster user (uid %d) cannot enter %s; set TICKSTOCK_DATA_DIR to a directory it can reach, or set DATABASE_URL", uid, p)
		}
		if p == "/" || p == "." {
			return nil
		}
	}
}

func procAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	// Own process group: a terminal's Ctrl-C reaches only the app, which then stops the
	// cluster after its own graceful shutdown.
	return &syscall.SysProcAttr{Setpgid: true, Credential: cred}
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return strings.TrimSpace(string(b))
}
