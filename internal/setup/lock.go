// Package setup prepares a machine for TickStock's two README commands: the pinned htmx
// files in static/vendor (downloaded from the npm registry and checked against
// package-lock.json, so no Node.js is needed), and for `go tool task run` and
// `go tool task test` the Debian packages and local services they rely on.
package setup

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// DefaultRegistry is where npm's own lockfiles point; a registry override replaces it.
const DefaultRegistry = "https://registry.npmjs.org/"

// LockedPackage is one package as package-lock.json pins it.
type LockedPackage struct {
	Name      string
	Version   string
	Resolved  string // the tarball URL npm resolved, may be empty
	Integrity string // Subresource Integrity, "sha512-<base64>"
}

// ReadLock reads the named packages from an npm package-lock.json (lockfileVersion 2 or 3).
// Every named package must be pinned with a version and an integrity hash.
func ReadLock(path string, names ...string) ([]LockedPackage, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read lockfile: %w", err)
	}
	var lock struct {
		LockfileVersion int `json:"lockfileVersion"`
		Packages        map[string]struct {
			Version   string `json:"version"`
			Resolved  string `json:"resolved"`
			Integrity string `json:"integrity"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if lock.LockfileVersion < 2 {
		return nil, fmt.Errorf("%s: lockfileVersion %d has no \"packages\" map; regenerate it with npm 7 or later", path, lock.LockfileVersion)
	}
	out := make([]LockedPackage, 0, len(names))
	for _, name := range names {
		p, ok := lock.Packages["node_modules/"+name]
		switch {
		case !ok:
			return nil, fmt.Errorf("%s does not pin %s", path, name)
		case p.Version == "" || p.Integrity == "":
			return nil, fmt.Errorf("%s: %s has no version or integrity", path, name)
		}
		out = append(out, LockedPackage{Name: name, Version: p.Version, Resolved: p.Resolved, Integrity: p.Integrity})
	}
	return out, nil
}

// TarballURL is where p is downloaded from. With a registry override the tarball comes
// from that registry at npm's usual path; otherwise from the lockfile's resolved URL.
func (p LockedPackage) TarballURL(registry string) string {
	if registry == "" && p.Resolved != "" {
		return p.Resolved
	}
	if registry == "" {
		registry = DefaultRegistry
	}
	if !strings.HasSuffix(registry, "/") {
		registry += "/"
	}
	base := p.Name[strings.LastIndex(p.Name, "/")+1:] // @scope/name → name
	return registry + p.Name + "/-/" + base + "-" + p.Version + ".tgz"
}

// RegistryFromEnv is the npm registry override, if any: TICKSTOCK_NPM_REGISTRY, then npm's
// own npm_config_registry, so a machine already set up for a mirror just works.
func RegistryFromEnv(getenv func(string) string) string {
	for _, k := range []string{"TICKSTOCK_NPM_REGISTRY", "npm_config_registry", "NPM_CONFIG_REGISTRY"} {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
	}
	return ""
}
