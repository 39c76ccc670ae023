package setup

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Prepare makes the machine ready for a README command: "htmx" fetches the pinned htmx
// files; "run" also installs what `tickstock serve` needs with zero configuration; "test"
// installs what the test suite needs and starts PostgreSQL and Redis. With
// TICKSTOCK_NO_INSTALL set, "run" and "test" change nothing and name what is missing.
func Prepare(ctx context.Context, mode string, m *Machine, v Vendor) error {
	var needs []Need
	switch mode {
	case "htmx":
		_, err := v.Ensure(ctx)
		return err
	case "run":
		needs = RunNeeds(m.getenv)
	case "test":
		needs = TestNeeds()
	default:
		return fmt.Errorf("unknown setup %q: want htmx, run or test", mode)
	}
	if err := m.vendor(ctx, v); err != nil {
		return err
	}
	installed, err := m.Install(ctx, needs)
	if err != nil {
		return err
	}
	if mode == "test" {
		return m.TestServices(ctx, slices.Contains(installed, NeedPostgresBinaries.Package))
	}
	return nil
}

// vendor fetches the htmx files, or with TICKSTOCK_NO_INSTALL only checks them.
func (m *Machine) vendor(ctx context.Context, v Vendor) error {
	if !m.NoInstall() {
		_, err := v.Ensure(ctx)
		return err
	}
	ok, err := v.UpToDate()
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("missing: the pinned htmx files in " + v.Dir + ", and TICKSTOCK_NO_INSTALL is set. " +
			"Fetch them (from the npm registry, checked against package-lock.json) with:\n\n    go run ./cmd/setup htmx\n")
	}
	return nil
}
