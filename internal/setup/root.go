package setup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// privilege returns the prefix that runs a command as root: nothing when we are root,
// `sudo -n` when sudo works without a password. Otherwise it says why not.
func (m *Machine) privilege(ctx context.Context) ([]string, error) {
	if m.privChecked {
		return m.priv, m.privErr
	}
	m.privChecked = true
	switch {
	case m.isRoot():
		m.priv = []string{}
	default:
		sudo, err := exec.LookPath("sudo")
		if err != nil {
			m.privErr = errors.New("not running as root, and there is no sudo")
			break
		}
		cmd := exec.CommandContext(ctx, sudo, "-n", "true")
		if err := cmd.Run(); err != nil {
			m.privErr = errors.New("not running as root, and sudo needs a password")
			break
		}
		m.priv = []string{"sudo", "-n"}
	}
	return m.priv, m.privErr
}

// asRoot runs args as root (directly or through sudo -n).
func (m *Machine) asRoot(ctx context.Context, args ...string) error {
	prefix, err := m.privilege(ctx)
	if err != nil {
		return err
	}
	return m.run(ctx, append(append([]string{}, prefix...), args...)...)
}

// run runs a command with its output going to the user, and names it in the error.
func (m *Machine) run(ctx context.Context, args ...string) error { return m.runEnv(ctx, nil, args...) }

// runEnv is run with extra environment variables.
func (m *Machine) runEnv(ctx context.Context, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	var tail bytes.Buffer
	cmd.Stdout = m.out()
	cmd.Stderr = io.MultiWriter(m.out(), &tail)
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(tail.String())
		if len(msg) > 500 {
			msg = msg[len(msg)-500:]
		}
		if msg != "" {
			return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, msg)
		}
		return fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// privileged runs commands that need root: directly, through sudo -n, or not at all, in
// which case the error states the problem and the commands to run by hand.
func (m *Machine) privileged(ctx context.Context, problem, action string, cmds ...[]string) error {
	reason := ""
	if m.NoInstall() {
		reason = "TICKSTOCK_NO_INSTALL is set"
	} else if _, err := m.privilege(ctx); err != nil {
		reason = err.Error()
	}
	if reason != "" {
		shown := make([]string, len(cmds))
		for i, c := range cmds {
			shown[i] = m.shown(c)
		}
		return fmt.Errorf("%s. Setup cannot %s: %s. Run:\n\n    %s\n\nthen run the command again",
			problem, action, reason, strings.Join(shown, " && "))
	}
	for _, c := range cmds {
		if err := m.asRoot(ctx, c...); err != nil {
			return fmt.Errorf("%s: %w", action, err)
		}
	}
	return nil
}

// shown is a command as a person types it, quoted for a shell, with sudo unless root.
func (m *Machine) shown(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \"'$\\;&|<>*?") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	s := strings.Join(q, " ")
	if !m.isRoot() {
		s = "sudo " + s
	}
	return s
}

func (m *Machine) readRootFile(ctx context.Context, path string) (string, error) {
	prefix, err := m.privilege(ctx)
	if err != nil {
		return "", err
	}
	if len(prefix) == 0 {
		b, err := os.ReadFile(m.path(path))
		return string(b), err
	}
	b, err := exec.CommandContext(ctx, prefix[0], append(prefix[1:], "cat", path)...).Output()
	return string(b), err
}

func (m *Machine) writeRootFile(ctx context.Context, path, content string) error {
	prefix, err := m.privilege(ctx)
	if err != nil {
		return err
	}
	if len(prefix) == 0 {
		if err := os.WriteFile(m.path(path), []byte(content), 0o640); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	cmd := exec.CommandContext(ctx, prefix[0], append(prefix[1:], "tee", path)...)
	cmd.Stdin = strings.NewReader(content)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("write %s: %w: %s", path, err, bytes.TrimSpace(out))
	}
	return nil
}
