package setup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Asset is one file copied out of an npm package's tarball into the vendor directory.
type Asset struct {
	Package string // npm package name, as package-lock.json pins it
	Path    string // inside the package, e.g. "dist/htmx.min.js"
	Dest    string // file name in the vendor directory
}

// HTMXAssets are the files the app's pages load from /static/vendor.
var HTMXAssets = []Asset{
	{Package: "htmx.org", Path: "dist/htmx.min.js", Dest: "htmx.min.js"},
	{Package: "htmx-ext-sse", Path: "dist/sse.js", Dest: "sse.js"},
}

// manifestName records what the vendor directory holds. The leading dot keeps it out of
// the embedded static files (go:embed skips dot files).
const manifestName = ".manifest.json"

// maxTarball bounds a download; htmx's tarball is well under 1 MiB.
const maxTarball = 32 << 20

// Vendor fills a vendor directory with assets from the npm tarballs pinned in a lockfile.
type Vendor struct {
	Lockfile string       // path to package-lock.json
	Dir      string       // the vendor directory, e.g. static/vendor
	Registry string       // registry override ("" = the lockfile's resolved URLs)
	Client   *http.Client // nil = a client with a timeout
	Assets   []Asset
	Log      io.Writer // progress lines; nil = silent
}

// manifestEntry is one vendored file: where it came from and what it must hash to.
type manifestEntry struct {
	Package   string `json:"package"`
	Version   string `json:"version"`
	Integrity string `json:"integrity"`
	Path      string `json:"path"`
	File      string `json:"file"`
	SHA256    string `json:"sha256"`
}

// UpToDate reports whether every asset is in place, from the tarball the lockfile pins,
// unchanged since it was written. It reads only local files.
func (v Vendor) UpToDate() (bool, error) {
	pkgs, err := v.locked()
	if err != nil {
		return false, err
	}
	return v.upToDate(pkgs), nil
}

// Ensure downloads and verifies the pinned tarballs and writes the assets, unless they are
// already up to date. It reports whether it wrote anything.
func (v Vendor) Ensure(ctx context.Context) (bool, error) {
	pkgs, err := v.locked()
	if err != nil {
		return false, err
	}
	if v.upToDate(pkgs) {
		return false, nil
	}
	return true, v.fetch(ctx, pkgs)
}

func (v Vendor) locked() (map[string]LockedPackage, error) {
	var names []string
	seen := map[string]bool{}
	for _, a := range v.Assets {
		if !seen[a.Package] {
			seen[a.Package] = true
			names = append(names, a.Package)
		}
	}
	list, err := ReadLock(v.Lockfile, names...)
	if err != nil {
		return nil, err
	}
	pkgs := make(map[string]LockedPackage, len(list))
	for _, p := range list {
		pkgs[p.Name] = p
	}
	return pkgs, nil
}

func (v Vendor) upToDate(pkgs map[string]LockedPackage) bool {
	b, err := os.ReadFile(filepath.Join(v.Dir, manifestName))
	if err != nil {
		return false
	}
	var entries []manifestEntry
	if json.Unmarshal(b, &entries) != nil {
		return false
	}
	byFile := make(map[string]manifestEntry, len(entries))
	for _, e := range entries {
		byFile[e.File] = e
	}
	for _, a := range v.Assets {
		e, ok := byFile[a.Dest]
		p := pkgs[a.Package]
		if !ok || e.Package != p.Name || e.Integrity != p.Integrity || e.Path != a.Path {
			return false
		}
		data, err := os.ReadFile(filepath.Join(v.Dir, a.Dest))
		if err != nil {
			return false
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != e.SHA256 {
			return false
		}
	}
	return true
}

func (v Vendor) fetch(ctx context.Context, pkgs map[string]LockedPackage) error {
	client := v.Client
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Minute}
	}
	// Every tarball is downloaded and verified before anything is written, so a failure
	// leaves the directory as it was.
	files := make(map[string][]byte)
	var entries []manifestEntry
	tarballs := make(map[string][]byte)
	for _, a := range v.Assets {
		p := pkgs[a.Package]
		tgz, ok := tarballs[p.Name]
		if !ok {
			url := p.TarballURL(v.Registry)
			if v.Log != nil {
				fmt.Fprintf(v.Log, "setup: downloading %s@%s from %s\n", p.Name, p.Version, url)
			}
			var err error
			if tgz, err = download(ctx, client, url); err != nil {
				return fmt.Errorf("%s@%s: %w", p.Name, p.Version, err)
			}
			if err := VerifyIntegrity(tgz, p.Integrity); err != nil {
				return fmt.Errorf("%s@%s from %s: %w", p.Name, p.Version, url, err)
			}
			tarballs[p.Name] = tgz
		}
		data, err := extract(tgz, a.Path)
		if err != nil {
			return fmt.Errorf("%s@%s: %w", p.Name, p.Version, err)
		}
		files[a.Dest] = data
		sum := sha256.Sum256(data)
		entries = append(entries, manifestEntry{Package: p.Name, Version: p.Version, Integrity: p.Integrity,
			Path: a.Path, File: a.Dest, SHA256: hex.EncodeToString(sum[:])})
	}
	if err := os.MkdirAll(v.Dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", v.Dir, err)
	}
	for _, a := range v.Assets {
		if err := writeAtomic(filepath.Join(v.Dir, a.Dest), files[a.Dest]); err != nil {
			return err
		}
	}
	manifest, _ := json.MarshalIndent(entries, "", "  ")
	if err := writeAtomic(filepath.Join(v.Dir, manifestName), append(manifest, '\n')); err != nil {
		return err
	}
	if v.Log != nil {
		for _, e := range entries {
			fmt.Fprintf(v.Log, "setup: %s/%s from %s@%s (integrity verified)\n", v.Dir, e.File, e.Package, e.Version)
		}
	}
	return nil
}

// download fetches url, retrying once on a network error or a 5xx answer.
func download(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	var lastErr error
	for attempt := 0; attempt < 2; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Second):
			}
		}
		b, retry, err := downloadOnce(ctx, client, url)
		if err == nil {
			return b, nil
		}
		lastErr = err
		if !retry {
			break
		}
	}
	return nil, lastErr
}

func downloadOnce(ctx context.Context, client *http.Client, url string) ([]byte, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, false, fmt.Errorf("download %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, true, fmt.Errorf("download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode >= 500, fmt.Errorf("download %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxTarball+1))
	if err != nil {
		return nil, true, fmt.Errorf("download %s: %w", url, err)
	}
	if len(b) > maxTarball {
		return nil, false, fmt.Errorf("download %s: larger than %d bytes", url, maxTarball)
	}
	return b, false, nil
}

// ErrIntegrity means a download does not match the hash its lockfile pins.
var ErrIntegrity = errors.New("integrity check failed")

// VerifyIntegrity checks data against a Subresource Integrity string as npm writes it
// ("sha512-<base64>", possibly several space-separated). Only sha512 is accepted: it is
// what npm has written for years, and weaker hashes are not worth trusting.
func VerifyIntegrity(data []byte, sri string) error {
	sum := sha512.Sum512(data)
	got := "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
	found := false
	for _, h := range strings.Fields(sri) {
		algo, _, _ := strings.Cut(h, "-")
		if algo != "sha512" {
			continue
		}
		found = true
		if opts := strings.IndexByte(h, '?'); opts >= 0 {
			h = h[:opts]
		}
		if h == got {
			return nil
		}
	}
	if !found {
		return fmt.Errorf("%w: no sha512 hash in integrity %q", ErrIntegrity, sri)
	}
	return fmt.Errorf("%w: package-lock.json pins %s, the download is %s", ErrIntegrity, sri, got)
}

// extract returns one file of an npm tarball. npm packs everything under one top folder
// (normally "package/"), so path is matched below it.
func extract(tgz []byte, path string) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, fmt.Errorf("open tarball: %w", err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("tarball has no %s", path)
		}
		if err != nil {
			return nil, fmt.Errorf("read tarball: %w", err)
		}
		_, rest, ok := strings.Cut(strings.TrimPrefix(h.Name, "./"), "/")
		if !ok || rest != path || h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxTarball+1))
		if err != nil {
			return nil, fmt.Errorf("read %s from tarball: %w", path, err)
		}
		if len(b) > maxTarball {
			return nil, fmt.Errorf("%s in tarball is larger than %d bytes", path, maxTarball)
		}
		return b, nil
	}
}

// writeAtomic writes through a temporary file and a rename, so a reader (or a crash) never
// sees half a file.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp, 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, werr)
	}
	return nil
}
