package setup

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Machine is the computer being set up. The fields are seams for tests: a fake filesystem
// root, the environment, and whether the process counts as root.
type Machine struct {
	Root   string              // prefix for the system paths setup reads ("" = "/")
	Getenv func(string) string // the environment; PATH itself is the process's
	IsRoot func() bool         // nil = the effective uid is 0
	Out    io.Writer           // what setup does, for the user; nil = discard

	// The local servers the tests use, which setup starts when they are down ("" = the
	// tests' defaults, postgres://postgres@127.0.0.1:5432/postgres and redis://127.0.0.1:6379/0).
	// TEST_DATABASE_URL and TEST_REDIS_URL replace them, and are only checked.
	PostgresURL, RedisURL string
	// StartTimeout bounds how long a started service may take to answer (0 = 30 s).
	StartTimeout time.Duration

	privChecked bool
	priv        []string // command prefix for root's work: empty as root, or sudo -n
	privErr     error
}

// NoInstall reports whether the user asked setup only to check (TICKSTOCK_NO_INSTALL).
func (m *Machine) NoInstall() bool {
	switch strings.ToLower(strings.TrimSpace(m.getenv("TICKSTOCK_NO_INSTALL"))) {
	case "", "0", "false", "no":
		return false
	}
	return true
}

func (m *Machine) getenv(k string) string {
	if m.Getenv == nil {
		return os.Getenv(k)
	}
	return m.Getenv(k)
}

func (m *Machine) out() io.Writer {
	if m.Out == nil {
		return io.Discard
	}
	return m.Out
}

func (m *Machine) path(p string) string {
	if m.Root == "" {
		return p
	}
	return filepath.Join(m.Root, p)
}

func (m *Machine) isRoot() bool {
	if m.IsRoot != nil {
		return m.IsRoot()
	}
	return os.Geteuid() == 0
}

// Need is something a command needs from the machine, and the Debian package that brings it.
type Need struct {
	What    string // for people: "PostgreSQL server binaries (initdb, postgres)"
	Package string // the Debian package
	Ubuntu  string // the Ubuntu package, when its name differs
	Else    string // another way out, e.g. "or set DATABASE_URL"
	Have    func(*Machine) bool
}

func (n Need) pkg(osID string) string {
	if osID == "ubuntu" && n.Ubuntu != "" {
		return n.Ubuntu
	}
	return n.Package
}

// NeedPostgresBinaries is the PostgreSQL server (initdb and postgres) that the embedded
// cluster and the embedded-cluster tests start.
var NeedPostgresBinaries = Need{
	What: "PostgreSQL server binaries (initdb, postgres)", Package: "postgresql",
	Else: "or set DATABASE_URL to a running server",
	Have: func(m *Machine) bool { return m.postgresBinDir() != "" },
}

// NeedRedisServer is the redis-server binary: the test Redis, and the private servers the
// outage tests start and stop.
var NeedRedisServer = Need{
	What: "Redis server (redis-server)", Package: "redis-server",
	Have: func(m *Machine) bool { _, err := exec.LookPath("redis-server"); return err == nil },
}

// NeedChromium is the browser the chromedp tests drive.
var NeedChromium = Need{
	What: "Chromium, for the browser tests", Package: "chromium", Ubuntu: "chromium-browser",
	Else: "or set CHROMIUM_PATH to another Chrome",
	Have: func(m *Machine) bool { return m.chromium() != "" },
}

// RunNeeds is what `tickstock serve` needs with the environment it will see: the
// PostgreSQL server binaries, unless DATABASE_URL names a server.
func RunNeeds(getenv func(string) string) []Need {
	if getenv("DATABASE_URL") != "" {
		return nil
	}
	return []Need{NeedPostgresBinaries}
}

// TestNeeds is what the test suite needs installed.
func TestNeeds() []Need { return []Need{NeedPostgresBinaries, NeedRedisServer, NeedChromium} }

// postgresBinDir finds the server binaries the way db.StartEmbedded does.
func (m *Machine) postgresBinDir() string {
	var dirs []string
	if pgc, err := exec.LookPath("pg_config"); err == nil {
		if out, err := exec.Command(pgc, "--bindir").Output(); err == nil {
			dirs = append(dirs, strings.TrimSpace(string(out)))
		}
	}
	dirs = append(dirs, m.versionDirs("/usr/lib/postgresql", "bin")...)
	if p, err := exec.LookPath("postgres"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "postgres")) && isExecutable(filepath.Join(d, "initdb")) {
			return d
		}
	}
	return ""
}

// versionDirs lists base/<major>/sub under the root, newest PostgreSQL major first.
func (m *Machine) versionDirs(base, sub string) []string {
	matches, _ := filepath.Glob(filepath.Join(m.path(base), "*", sub))
	sort.Slice(matches, func(i, j int) bool { return majorOf(matches[i]) > majorOf(matches[j]) })
	return matches
}

// majorOf is the version in a path like /usr/lib/postgresql/15/bin (9.6 sorts below 10).
func majorOf(dir string) float64 {
	f, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
	return f
}

func (m *Machine) chromium() string {
	if p := m.getenv("CHROMIUM_PATH"); p != "" {
		if isExecutable(p) {
			return p
		}
		return ""
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// osID is the distribution's ID from os-release ("debian", "ubuntu", ...).
func (m *Machine) osID() string {
	f, err := os.Open(m.path("/etc/os-release"))
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "ID="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

// Missing is the needs the machine lacks.
func (m *Machine) Missing(needs []Need) []Need {
	var missing []Need
	for _, n := range needs {
		if !n.Have(m) {
			missing = append(missing, n)
		}
	}
	return missing
}

// Install installs the missing needs with apt-get, as root or through passwordless sudo,
// and returns the packages it installed. When it may not or cannot install, the error
// lists what is missing and the exact command that installs it.
func (m *Machine) Install(ctx context.Context, needs []Need) ([]string, error) {
	missing := m.Missing(needs)
	if len(missing) == 0 {
		return nil, nil
	}
	osID := m.osID()
	var pkgs []string
	for _, n := range missing {
		if p := n.pkg(osID); !slices.Contains(pkgs, p) {
			pkgs = append(pkgs, p)
		}
	}
	var msg strings.Builder
	msg.WriteString("missing on this machine:\n")
	for _, n := range missing {
		fmt.Fprintf(&msg, "  - %s: package %s", n.What, n.pkg(osID))
		if n.Else != "" {
			fmt.Fprintf(&msg, " (%s)", n.Else)
		}
		msg.WriteString("\n")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		fmt.Fprintf(&msg, "This machine has no apt-get; setup installs packages only on Debian and Ubuntu.\n"+
			"Install the above with your package manager, then run the command again.")
		return nil, errors.New(msg.String())
	}
	aptCmd := aptCommand(pkgs, !m.isRoot())
	if m.NoInstall() {
		fmt.Fprintf(&msg, "TICKSTOCK_NO_INSTALL is set, so setup installs nothing. Install them with:\n\n    %s\n", aptCmd)
		return nil, errors.New(msg.String())
	}
	prefix, err := m.privilege(ctx)
	if err != nil {
		fmt.Fprintf(&msg, "Setup cannot install them: %v. Run:\n\n    %s\n\nthen run the command again (TICKSTOCK_NO_INSTALL=1 makes setup only check).",
			err, aptCommand(pkgs, true))
		return nil, errors.New(msg.String())
	}
	fmt.Fprintf(m.out(), "setup: installing %s with apt-get\n", strings.Join(pkgs, " "))
	// No prompts: as root through the environment, through sudo as an assignment it passes on.
	apt, env := []string{"apt-get"}, []string{"DEBIAN_FRONTEND=noninteractive"}
	if len(prefix) > 0 {
		apt, env = append(append([]string{}, prefix...), "DEBIAN_FRONTEND=noninteractive", "apt-get"), nil
	}
	if err := m.runEnv(ctx, env, append(apt, "update", "-q")...); err != nil {
		return nil, fmt.Errorf("apt-get update: %w", err)
	}
	if err := m.runEnv(ctx, env, append(apt, append([]string{"install", "-y", "-q"}, pkgs...)...)...); err != nil {
		return nil, fmt.Errorf("apt-get install %s: %w", strings.Join(pkgs, " "), err)
	}
	if still := m.Missing(missing); len(still) > 0 {
		var what []string
		for _, n := range still {
			what = append(what, n.What)
		}
		return pkgs, fmt.Errorf("installed %s, but still missing: %s", strings.Join(pkgs, " "), strings.Join(what, ", "))
	}
	return pkgs, nil
}

// aptCommand is the command a person types to install pkgs.
func aptCommand(pkgs []string, sudo bool) string {
	s := ""
	if sudo {
		s = "sudo "
	}
	return s + "apt-get update && " + s + "apt-get install -y " + strings.Join(pkgs, " ")
}
