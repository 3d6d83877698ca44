//go:build cgo

package passmint

import (
	"context"
	"errors"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// A provider URL that configures without any request (tokens are fetched on first use).
const offline = "rds://db.example.internal:5432?region=eu-west-1&user=app"

func TestStatusNamesAreTheCNames(t *testing.T) {
	for s, name := range map[Status]string{OK: "PASSMINT_OK", InvalidConfig: "PASSMINT_INVALID_CONFIG",
		Timeout: "PASSMINT_TIMEOUT", CredentialUnavailable: "PASSMINT_CREDENTIAL_UNAVAILABLE"} {
		if s.String() != name {
			t.Errorf("%d: %q, want %q", int(s), s.String(), name)
		}
	}
}

func TestBadURLIsATypedError(t *testing.T) {
	for _, u := range []string{"", "nope://x", "azure://?credential=bogus", "dsql://"} {
		p, err := New(u)
		if p != nil || err == nil {
			t.Fatalf("New(%q) = %v, %v", u, p, err)
		}
		var e *Error
		if !errors.As(err, &e) || e.Status != InvalidConfig && e.Status != InvalidArgument {
			t.Fatalf("New(%q): %#v", u, err)
		}
		if !errors.Is(err, &Error{Status: e.Status}) || errors.Is(err, &Error{Status: Timeout}) {
			t.Fatalf("errors.Is matches on the status: %v", err)
		}
		if !strings.HasPrefix(err.Error(), "passmint: "+e.Status.String()+": ") {
			t.Fatalf("message: %q", err.Error())
		}
	}
}

func TestTokenStringHidesTheSecret(t *testing.T) {
	tok := Token{Secret: "s3cr3t-token", Username: "app", Provider: "rds", ExpiresAt: time.Unix(2000000000, 0)}
	if s := tok.String(); strings.Contains(s, "s3cr3t") || !strings.Contains(s, `"app"`) {
		t.Fatalf("%s", s)
	}
}

func TestClosedProviderRefusesAndCloseIsIdempotent(t *testing.T) {
	p, err := New(offline)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	p.Close()
	if _, err := p.Token(); !errors.Is(err, &Error{Status: InvalidArgument}) {
		t.Fatalf("Token after Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := p.TokenContext(ctx); !errors.Is(err, &Error{Status: InvalidArgument}) {
		t.Fatalf("TokenContext after Close: %v", err)
	}
}

func TestPgxPoolConfigVerifiesTheServerNameByDefault(t *testing.T) {
	t.Setenv("PGSSLMODE", "")
	p, err := New(offline)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, dsn := range []string{"host=db.example.internal dbname=app", "postgres://db.example.internal/app"} {
		cfg, err := PgxPoolConfig(p, dsn, PgxOptions{})
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		tc := cfg.ConnConfig.TLSConfig
		if tc == nil || tc.InsecureSkipVerify || tc.ServerName != "db.example.internal" || len(cfg.ConnConfig.Fallbacks) != 0 {
			t.Fatalf("%s: not verify-full: %+v", dsn, tc)
		}
		if cfg.BeforeConnect == nil {
			t.Fatalf("%s: no BeforeConnect", dsn)
		}
	}
}

func TestPgxPoolConfigRefusesWhatCouldExposeTheToken(t *testing.T) {
	p, err := New(offline)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cases := []struct {
		dsn, env, shown string
		plaintext       bool
	}{
		{"host=h sslmode=disable", "", "sslmode=disable", true},
		{"host=h sslmode=allow", "", "sslmode=allow", true},
		{"postgres://h/db?sslmode=prefer", "", "sslmode=prefer", true},
		{"host=h", "disable", "PGSSLMODE=disable", true},
		{"host=h sslmode=require", "", "sslmode=require", false},
		{"host=h sslmode=verify-ca", "", "sslmode=verify-ca", false},
	}
	for _, c := range cases {
		t.Setenv("PGSSLMODE", c.env)
		_, err := PgxPoolConfig(p, c.dsn, PgxOptions{})
		var e *Error
		if !errors.As(err, &e) || e.Status != InvalidConfig || !strings.HasPrefix(e.Message, c.shown+" ") {
			t.Fatalf("%s (PGSSLMODE=%q): %v", c.dsn, c.env, err)
		}
		opt := "AllowUnverifiedTLS"
		if c.plaintext {
			opt = "AllowPlaintext"
		}
		if !strings.Contains(e.Message, "PgxOptions."+opt) {
			t.Fatalf("%s: the opt-in is not named: %s", c.dsn, e.Message)
		}
		if _, err := PgxPoolConfig(p, c.dsn, PgxOptions{AllowPlaintext: c.plaintext, AllowUnverifiedTLS: !c.plaintext}); err != nil {
			t.Fatalf("%s with %s: %v", c.dsn, opt, err)
		}
	}
}

// The suite (tests/go/test_go.py) sets these to a provider served by the project's mock and a
// DSN of the harness PostgreSQL whose role takes the mock's token; without them there is
// nothing to log into.
func loginTarget(t *testing.T) (string, string) {
	provider, dsn := os.Getenv("PASSMINT_GO_TEST_PROVIDER"), os.Getenv("PASSMINT_GO_TEST_DSN")
	if provider == "" || dsn == "" {
		t.Skip("PASSMINT_GO_TEST_PROVIDER and PASSMINT_GO_TEST_DSN name no server (tests/go/test_go.py sets them)")
	}
	return provider, dsn
}

func TestPoolOfTwentyLogsInWithTheTokensRole(t *testing.T) {
	providerURL, dsn := loginTarget(t)
	p, err := New(providerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cfg, err := PgxPoolConfig(p, dsn, PgxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 20
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	conns := make([]*pgxpool.Conn, 20)
	errs := make([]error, 20)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns[i], errs[i] = pool.Acquire(ctx)
		}()
	}
	wg.Wait()
	users := map[string]int{}
	for i, c := range conns {
		if errs[i] != nil {
			t.Fatalf("connection %d: %v", i, errs[i])
		}
		var user string
		var ssl bool
		if err := c.QueryRow(ctx, "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&user, &ssl); err != nil {
			t.Fatal(err)
		}
		if !ssl {
			t.Fatalf("connection %d is not TLS", i)
		}
		users[user]++
		c.Release()
	}
	tok, err := p.Token()
	if err != nil {
		t.Fatal(err)
	}
	if want := os.Getenv("PASSMINT_GO_TEST_ROLE"); users[want] != 20 || tok.Username != want {
		t.Fatalf("users %v, token for %q, want 20 × %q", users, tok.Username, want)
	}
	if s := pool.Stat(); s.NewConnsCount() != 20 {
		t.Fatalf("%d new connections", s.NewConnsCount())
	}
}

// A token command that prints a new password each run: a refused password is dropped once (a
// pool refused at once makes one run), Invalidate drops it too, and IAM tokens are never retried.
func TestPasswordRefusedDropsASecretOnce(t *testing.T) {
	counter := t.TempDir() + "/n"
	cmd := "n=$(cat " + counter + " 2>/dev/null || echo 0); n=$((n+1)); echo $n > " + counter + "; echo go-pw-$n"
	// %20, not QueryEscape's "+": passmint's query values are percent-decoded only.
	p, err := New("exec:?shell=true&cmd=" + strings.ReplaceAll(url.QueryEscape(cmd), "+", "%20"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	first, err := p.Token()
	if err != nil || first.Secret != "go-pw-1" || first.Provider != "exec" {
		t.Fatalf("%v %v", first, err)
	}
	for i := 0; i < 5; i++ {
		if retry, err := p.PasswordRefused(first.Secret); !retry || err != nil {
			t.Fatalf("retry=%v err=%v", retry, err)
		}
	}
	if tok, _ := p.Token(); tok.Secret != "go-pw-2" {
		t.Fatalf("after a refusal: %v", tok)
	}
	if err := p.Invalidate(); err != nil {
		t.Fatal(err)
	}
	if tok, _ := p.Token(); tok.Secret != "go-pw-3" {
		t.Fatalf("after Invalidate: %v", tok)
	}
	iam, err := New(offline)
	if err != nil {
		t.Fatal(err)
	}
	defer iam.Close()
	if retry, err := iam.PasswordRefused("x"); retry || err != nil {
		t.Fatalf("an IAM token was retried: %v %v", retry, err)
	}
}
