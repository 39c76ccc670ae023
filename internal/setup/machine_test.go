package setup

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeMachine is a machine made of stub executables on a temporary PATH, which record
// their calls, over a temporary filesystem root.
type fakeMachine struct {
	bin  string // the only directory on PATH
	root string // stands in for /
	log  string // one line per stub call
}

// MustFakeMachine builds a Debian machine (or another os-release ID) whose PATH holds
// only the named stubs, plus mkdir and chmod for the stubs' own use. It has no npm, no
// node, no PostgreSQL and no Chromium unless named.
func MustFakeMachine(tb testing.TB, osID string, stubs ...string) *fakeMachine {
	tb.Helper()
	dir := tb.TempDir()
	f := &fakeMachine{bin: filepath.Join(dir, "bin"), root: filepath.Join(dir, "root"), log: filepath.Join(dir, "calls.log")}
	for _, d := range []string{f.bin, filepath.Join(f.root, "etc")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(f.root, "etc", "os-release"), []byte("PRETTY_NAME=\"test\"\nID="+osID+"\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	for _, tool := range []string{"mkdir", "chmod"} {
		real, err := exec.LookPath(tool)
		if err != nil {
			tb.Fatalf("%s: %v", tool, err)
		}
		if err := os.Symlink(real, filepath.Join(f.bin, tool)); err != nil {
			tb.Fatal(err)
		}
	}
	for _, s := range stubs {
		f.stub(tb, s, "")
	}
	tb.Setenv("PATH", f.bin)
	return f
}

// stub writes an executable that records "name args..." and then runs body.
func (f *fakeMachine) stub(tb testing.TB, name, body string) {
	tb.Helper()
	script := "#!/bin/sh\necho \"" + name + " $*\" >> '" + f.log + "'\n" + body + "\n"
	if err := os.WriteFile(filepath.Join(f.bin, name), []byte(script), 0o755); err != nil {
		tb.Fatal(err)
	}
}

// aptGet installs a recording apt-get that "installs" postgresql (binaries under
// /usr/lib/postgresql/15/bin of the fake root), chromium and redis-server (on PATH).
func (f *fakeMachine) aptGet(tb testing.TB) {
	tb.Helper()
	f.stub(tb, "apt-get", `echo "  DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >> '`+f.log+`'
[ "$1" = install ] || exit 0
for p in "$@"; do
  case "$p" in
  postgresql)
    mkdir -p '`+f.root+`/usr/lib/postgresql/15/bin'
    for b in postgres initdb; do echo '#!/bin/sh' > '`+f.root+`/usr/lib/postgresql/15/bin/'$b; chmod +x '`+f.root+`/usr/lib/postgresql/15/bin/'$b; done ;;
  chromium|chromium-browser|redis-server)
    echo '#!/bin/sh' > '`+f.bin+`/'$p; chmod +x '`+f.bin+`/'$p ;;
  esac
done`)
}

// sudo installs a recording sudo: `sudo -n true` exits with trueExit (1 = a password is
// needed); other commands run after dropping -n and VAR=value assignments.
func (f *fakeMachine) sudo(tb testing.TB, trueExit string) {
	tb.Helper()
	f.stub(tb, "sudo", `[ "$1" = -n ] || exit 1
shift
[ "$1" = true ] && exit `+trueExit+`
while case "$1" in *=*) true;; *) false;; esac; do export "$1"; shift; done
exec "$@"`)
}

func (f *fakeMachine) calls(tb testing.TB) []string {
	tb.Helper()
	b, err := os.ReadFile(f.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		tb.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

func (f *fakeMachine) machine(root bool, env map[string]string, out *bytes.Buffer) *Machine {
	return &Machine{Root: f.root, Getenv: func(k string) string { return env[k] },
		IsRoot: func() bool { return root }, Out: out}
}

func equal(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

// TestInstallAsksForExactlyTheMissingPackages runs the test suite's needs on a Debian
// machine that has Redis but no npm, PostgreSQL or Chromium.
func TestInstallAsksForExactlyTheMissingPackages(t *testing.T) {
	tests := []struct {
		name  string
		root  bool
		sudo  bool
		calls []string
	}{
		{"as root", true, false, []string{
			"apt-get update -q", "  DEBIAN_FRONTEND=noninteractive",
			"apt-get install -y -q postgresql chromium", "  DEBIAN_FRONTEND=noninteractive",
		}},
		{"through passwordless sudo", false, true, []string{
			"sudo -n true",
			"sudo -n DEBIAN_FRONTEND=noninteractive apt-get update -q",
			"apt-get update -q", "  DEBIAN_FRONTEND=noninteractive",
			"sudo -n DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql chromium",
			"apt-get install -y -q postgresql chromium", "  DEBIAN_FRONTEND=noninteractive",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := MustFakeMachine(t, "debian", "redis-server")
			f.aptGet(t)
			if tc.sudo {
				f.sudo(t, "0")
			}
			var out bytes.Buffer
			m := f.machine(tc.root, nil, &out)
			if missing := m.Missing(TestNeeds()); len(missing) != 2 {
				t.Fatalf("missing before install: %v", missing)
			}
			installed, err := m.Install(context.Background(), TestNeeds())
			if err != nil {
				t.Fatalf("Install: %v\n%s", err, out.String())
			}
			if !equal(installed, []string{"postgresql", "chromium"}) {
				t.Fatalf("installed %v", installed)
			}
			if got := f.calls(t); !equal(got, tc.calls) {
				t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.calls, "\n"))
			}
			if strings.Contains(out.String(), "npm") || strings.Contains(out.String(), "node") {
				t.Fatalf("setup asked for Node.js: %s", out.String())
			}

			// The second run finds everything and calls nothing.
			before := len(f.calls(t))
			if installed, err := m.Install(context.Background(), TestNeeds()); err != nil || installed != nil {
				t.Fatalf("second Install: %v, %v", installed, err)
			}
			if after := f.calls(t); len(after) != before {
				t.Fatalf("second Install ran %v", after[before:])
			}
		})
	}
}

func TestInstallForRun(t *testing.T) {
	f := MustFakeMachine(t, "debian")
	f.aptGet(t)
	m := f.machine(true, nil, &bytes.Buffer{})
	installed, err := m.Install(context.Background(), RunNeeds(m.getenv))
	if err != nil || !equal(installed, []string{"postgresql"}) {
		t.Fatalf("Install for run: %v, %v", installed, err)
	}

	// With DATABASE_URL the app needs no local PostgreSQL.
	g := MustFakeMachine(t, "debian")
	g.aptGet(t)
	env := map[string]string{"DATABASE_URL": "postgres://db.example/app"}
	m = g.machine(true, env, &bytes.Buffer{})
	if installed, err := m.Install(context.Background(), RunNeeds(m.getenv)); err != nil || installed != nil {
		t.Fatalf("Install for run with DATABASE_URL: %v, %v", installed, err)
	}
	if calls := g.calls(t); calls != nil {
		t.Fatalf("calls with DATABASE_URL: %v", calls)
	}
}

// missingList is how setup lists a Debian machine's missing PostgreSQL and Chromium.
const missingList = `missing on this machine:
  - PostgreSQL server binaries (initdb, postgres): package postgresql (or set DATABASE_URL to a running server)
  - Chromium, for the browser tests: package chromium (or set CHROMIUM_PATH to another Chrome)
`

// TestInstallWhenItMayNot checks the exact message when setup cannot or must not install.
func TestInstallWhenItMayNot(t *testing.T) {
	tests := []struct {
		name  string
		osID  string
		root  bool
		sudo  string // "" = no sudo; else the exit status of `sudo -n true`
		apt   bool
		env   map[string]string
		want  string
		calls []string
	}{
		{name: "not root, no sudo", osID: "debian", apt: true, want: missingList +
			"Setup cannot install them: not running as root, and there is no sudo. Run:\n\n" +
			"    sudo apt-get update && sudo apt-get install -y postgresql chromium\n\n" +
			"then run the command again (TICKSTOCK_NO_INSTALL=1 makes setup only check)."},
		{name: "not root, sudo wants a password", osID: "debian", sudo: "1", apt: true, want: missingList +
			"Setup cannot install them: not running as root, and sudo needs a password. Run:\n\n" +
			"    sudo apt-get update && sudo apt-get install -y postgresql chromium\n\n" +
			"then run the command again (TICKSTOCK_NO_INSTALL=1 makes setup only check).",
			calls: []string{"sudo -n true"}},
		{name: "TICKSTOCK_NO_INSTALL as root", osID: "debian", root: true, apt: true, sudo: "0",
			env: map[string]string{"TICKSTOCK_NO_INSTALL": "1"}, want: missingList +
				"TICKSTOCK_NO_INSTALL is set, so setup installs nothing. Install them with:\n\n" +
				"    apt-get update && apt-get install -y postgresql chromium\n"},
		{name: "not Debian", osID: "fedora", root: true, want: missingList +
			"This machine has no apt-get; setup installs packages only on Debian and Ubuntu.\n" +
			"Install the above with your package manager, then run the command again."},
		{name: "Ubuntu's chromium", osID: "ubuntu", want: strings.Replace(missingList, "package chromium", "package chromium-browser", 1) +
			"Setup cannot install them: not running as root, and there is no sudo. Run:\n\n" +
			"    sudo apt-get update && sudo apt-get install -y postgresql chromium-browser\n\n" +
			"then run the command again (TICKSTOCK_NO_INSTALL=1 makes setup only check).", apt: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := MustFakeMachine(t, tc.osID, "redis-server")
			if tc.apt {
				f.aptGet(t)
			}
			if tc.sudo != "" {
				f.sudo(t, tc.sudo)
			}
			_, err := f.machine(tc.root, tc.env, &bytes.Buffer{}).Install(context.Background(), TestNeeds())
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error:\n%v\nwant:\n%s", err, tc.want)
			}
			if got := f.calls(t); !equal(got, tc.calls) {
				t.Fatalf("calls %q, want %q", got, tc.calls)
			}
		})
	}
}

func TestChromiumPathCounts(t *testing.T) {
	f := MustFakeMachine(t, "debian")
	chrome := filepath.Join(t.TempDir(), "chrome")
	if err := os.WriteFile(chrome, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	m := f.machine(true, map[string]string{"CHROMIUM_PATH": chrome}, nil)
	if !NeedChromium.Have(m) {
		t.Fatal("CHROMIUM_PATH to an executable does not count as Chromium")
	}
	m = f.machine(true, map[string]string{"CHROMIUM_PATH": filepath.Join(t.TempDir(), "none")}, nil)
	if NeedChromium.Have(m) {
		t.Fatal("CHROMIUM_PATH to nothing counts as Chromium")
	}
}
