package main

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tickstock/tickstock/internal/setup"
)

// TestHTMXFromMirror runs the command as Task does, in a checkout with a lockfile, with
// TICKSTOCK_NPM_REGISTRY naming a mirror that serves a tarball which does not match.
func TestHTMXFromMirror(t *testing.T) {
	var asked []string
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path)
		w.Write([]byte("not the pinned tarball")) //nolint:errcheck
	}))
	defer mirror.Close()
	dir := t.TempDir()
	sum := sha512.Sum512([]byte("the pinned tarball"))
	lock := fmt.Sprintf(`{"lockfileVersion":3,"packages":{
		"node_modules/htmx.org":{"version":"2.0.11","resolved":"https://registry.npmjs.org/htmx.org/-/htmx.org-2.0.11.tgz","integrity":"sha512-%[1]s"},
		"node_modules/htmx-ext-sse":{"version":"2.2.4","resolved":"https://registry.npmjs.org/htmx-ext-sse/-/htmx-ext-sse-2.2.4.tgz","integrity":"sha512-%[1]s"}}}`,
		base64.StdEncoding.EncodeToString(sum[:]))
	if err := os.WriteFile(filepath.Join(dir, "package-lock.json"), []byte(lock), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	env := map[string]string{"TICKSTOCK_NPM_REGISTRY": mirror.URL + "/npm/"}
	var out bytes.Buffer
	err := run(context.Background(), []string{"htmx"}, func(k string) string { return env[k] }, &out)
	if err == nil || !strings.Contains(err.Error(), setup.ErrIntegrity.Error()) {
		t.Fatalf("run htmx: %v", err)
	}
	if len(asked) == 0 || asked[0] != "/npm/htmx.org/-/htmx.org-2.0.11.tgz" {
		t.Fatalf("mirror asked for %q", asked)
	}
	if _, err := os.Stat(filepath.Join(dir, "static", "vendor", "htmx.min.js")); !os.IsNotExist(err) {
		t.Fatalf("htmx.min.js written from a bad tarball: %v", err)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"run", "test"}, {"nonsense"}} {
		if err := run(context.Background(), args, func(string) string { return "" }, &bytes.Buffer{}); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
