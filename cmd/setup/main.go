// Command setup prepares this machine for the README's two commands. Task runs it before
// building, serving or testing; it is quick and silent when there is nothing to do.
//
//	go run ./cmd/setup htmx   download the pinned htmx files into static/vendor
//	go run ./cmd/setup run    htmx, plus PostgreSQL's server binaries (unless DATABASE_URL is set)
//	go run ./cmd/setup test   htmx, PostgreSQL, Redis and Chromium, with PostgreSQL and Redis running
//
// TICKSTOCK_NO_INSTALL=1 makes run and test only check and name what is missing.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tickstock/tickstock/internal/setup"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "setup:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: go run ./cmd/setup htmx|run|test")
	}
	m := &setup.Machine{Getenv: getenv, Out: stdout}
	v := setup.Vendor{Lockfile: "package-lock.json", Dir: "static/vendor", Assets: setup.HTMXAssets,
		Registry: setup.RegistryFromEnv(getenv), Log: stdout}
	return setup.Prepare(ctx, args[0], m, v)
}
