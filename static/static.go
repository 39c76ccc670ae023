// Package static holds the CSS, the small scripts, the alert sound and the vendored htmx
// files, embedded in the binary so the app runs from one file. static/vendor is not
// committed: the set-up step (cmd/setup, run by `go tool task run`, `test`, `build` and
// `setup`) downloads the npm tarballs that package-lock.json pins, checks their integrity
// and copies htmx out of them. Its manifest is a dot file, which go:embed leaves out.
package static

import (
	"embed"
	"io/fs"
	"strings"
)

//go:embed *
var files embed.FS

// servedDirs are the only folders exposed under /static; this file's own source is not.
var servedDirs = []string{"css/", "img/", "js/", "sounds/", "vendor/"}

// FS is what /static serves.
var FS fs.FS = filtered{files}

type filtered struct{ fs.FS }

func (f filtered) Open(name string) (fs.File, error) {
	for _, d := range servedDirs {
		if strings.HasPrefix(name, d) || name == strings.TrimSuffix(d, "/") {
			return f.FS.Open(name)
		}
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// Favicon is the site icon (an SVG), also answered at /favicon.ico so browsers that ask
// there get it rather than a 404.
func Favicon() ([]byte, error) { return fs.ReadFile(files, "img/favicon.svg") }

// HasVendor reports whether the set-up step put htmx into static/vendor, so the app can warn.
func HasVendor() bool {
	_, err := fs.Stat(files, "vendor/htmx.min.js")
	return err == nil
}
