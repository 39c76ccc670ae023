package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tickstock/tickstock/bus"
	"github.com/tickstock/tickstock/internal/testenv"
)

// recordingMailer keeps the reset mails it is asked to send.
type recordingMailer struct{ got chan ResetMail }

func (m recordingMailer) SendReset(_ context.Context, r ResetMail) error {
	m.got <- r
	return nil
}

// TestResetSpentOnce: however many requests race with one link, exactly one sets the
// password; the others are told it was used. A password change spends links still open.
func TestResetSpentOnce(t *testing.T) {
	pool, _ := testenv.MustPool(t)
	ctx := context.Background()
	b := bus.NewLocal()
	sessions := NewSessions(SessionConfig{Bus: b})
	accounts := NewAccounts(pool, sessions)
	counter := NewMemoryCounter()
	mails := recordingMailer{got: make(chan ResetMail, 4)}
	r := NewResets(ResetConfig{Pool: pool, Sessions: sessions, Counter: counter, Mailer: mails,
		Audit: NewAudit(pool, testenv.Logger()), Logger: testenv.Logger(), BaseURL: "https://tickstock.test/"})
	u, err := accounts.Create(ctx, NewAccount{Email: "race@example.com", Username: "racer", Password: "first-password"})
	if err != nil {
		t.Fatal(err)
	}
	link, err := r.Create(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "https://tickstock.test/auth/reset/"
	if len(link.URL) != len(prefix)+43 || link.URL[:len(prefix)] != prefix {
		t.Fatalf("link %q", link.URL)
	}
	token := link.URL[len(prefix):]

	var wg sync.WaitGroup
	results := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := r.Complete(ctx, token, "racing-password-"+string(rune('a'+i)), nil, Device{})
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	wins := 0
	for err := range results {
		var re *ResetError
		switch {
		case err == nil:
			wins++
		case errors.As(err, &re) && re.State == ResetUsed:
		default:
			t.Fatalf("Complete: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d requests spent one link", wins)
	}
	if state, _ := r.Check(ctx, token); state != ResetUsed {
		t.Fatalf("Check after use = %v", state)
	}

	// A link still open when the password changes is spent by the change.
	open, _ := r.Create(ctx, u.ID)
	u, _ = accounts.ByID(ctx, u.ID)
	var newPW string
	for _, c := range "abcdefgh" {
		if ok, _ := VerifyPassword(ctx, "racing-password-"+string(c), u.PasswordHash); ok {
			newPW = "racing-password-" + string(c)
		}
	}
	if err := accounts.ChangePassword(ctx, counter, u, nil, newPW, "changed-password"); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	if state, _ := r.Check(ctx, open.URL[len(prefix):]); state != ResetUsed {
		t.Fatalf("a link made before a password change still works: %v", state)
	}

	// Request mails only an existing account, and its link checks valid.
	go r.Run(t.Context())
	if err := r.Request(ctx, "nobody@example.com", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if err := r.Request(ctx, "RACE@example.com", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-mails.got:
		if m.To != "race@example.com" || m.Username != "racer" {
			t.Fatalf("mail %+v", m)
		}
		if state, _ := r.Check(ctx, m.Link[len(prefix):]); state != ResetValid {
			t.Fatalf("the mailed link checks %v", state)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no mail for an existing account")
	}
	select {
	case m := <-mails.got:
		t.Fatalf("a second mail: %+v", m)
	case <-time.After(200 * time.Millisecond):
	}
}
