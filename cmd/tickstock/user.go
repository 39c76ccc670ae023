package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/tickstock/tickstock"
	"github.com/tickstock/tickstock/auth"
	"github.com/tickstock/tickstock/config"
)

// userAdd handles `tickstock user add`.
func userAdd(ctx context.Context, cfg config.Config, logger *slog.Logger, args []string,
	getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	fs := newFlagSet("user add", stdout)
	email := fs.String("email", "", "the account's email address (required)")
	username := fs.String("username", "", "display name, 3-50 characters (default: the email's local part)")
	admin := fs.Bool("admin", false, "make the account an admin")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" {
		return errors.New("user add: --email is required")
	}
	if *username == "" {
		*username, _, _ = strings.Cut(*email, "@")
	}
	password := getenv("TICKSTOCK_PASSWORD")
	if password == "" {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("user add: read password from standard input: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	}
	role := auth.RoleUser
	if *admin {
		role = auth.RoleAdmin
	}
	// Validate before starting the database, so a typo fails fast.
	acct := auth.NewAccount{Email: *email, Username: *username, Password: password, Role: role}
	if err := acct.Validate(); err != nil {
		return fmt.Errorf("user add: %s", tickstock.ErrorMessage(err))
	}
	d, err := openDatabase(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer d.closeNow()
	u, err := auth.NewAccounts(d.pool, nil).Create(ctx, acct)
	if err != nil {
		if tickstock.ErrorCode(err) == tickstock.EINVALID {
			return fmt.Errorf("user add: %s", tickstock.ErrorMessage(err))
		}
		return fmt.Errorf("user add: %w", err)
	}
	fmt.Fprintf(stdout, "created %s %q <%s> (handle %s)\n", u.Role, u.Username, u.Email, u.Handle)
	return nil
}
