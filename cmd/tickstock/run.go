package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/tickstock/tickstock/config"
)

const usage = `TickStock: live stock-market events in the browser.

Usage:
  tickstock [serve]                                  run the web app (default)
  tickstock migrate                                  apply database migrations and exit
  tickstock user add --email E [--username U] [--admin]
                                                     create an account; the password comes from
                                                     TICKSTOCK_PASSWORD or standard input
  tickstock bench --url U --clients N [--users M] [--create-users] [--groups G]
                  [--duration D] [--json] [--pid P] [--format json|html]
                                                     load-test a running app over N SSE streams;
                                                     --rps-paths /healthz,/dashboard measures
                                                     request rates instead (tickstock bench -h)

Configuration is read from the environment; see README.md.
`

// run is the whole program behind main, so end-to-end tests can call it on port 0.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return runWithInput(ctx, args, getenv, os.Stdin, stdout)
}

func runWithInput(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "bench": // a client of the app: it needs none of the server's configuration
		return bench(ctx, args, getenv, stdout)
	}

	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stdout)

	switch cmd {
	case "serve":
		if len(args) > 0 {
			return fmt.Errorf("serve takes no arguments, got %q", args)
		}
		return serve(ctx, cfg, logger)
	case "migrate":
		d, err := openDatabase(ctx, cfg, logger)
		if err != nil {
			return err
		}
		return d.closeNow()
	case "user":
		if len(args) == 0 || args[0] != "add" {
			return errors.New("usage: tickstock user add --email E [--username U] [--admin]")
		}
		return userAdd(ctx, cfg, logger, args[1:], getenv, stdin, stdout)
	}
	return fmt.Errorf("unknown command %q\n\n%s", cmd, usage)
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if cfg.LogJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	return fs
}
