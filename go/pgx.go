//go:build cgo

package passmint

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PgxOptions are the opt-ins of PgxPoolConfig, off by default: a token is a password, so it
// goes only over TLS that checks the server is the one named.
type PgxOptions struct {
	// AllowPlaintext lets sslmode=disable, allow and prefer stand (the token may travel unencrypted).
	AllowPlaintext bool
	// AllowUnverifiedTLS lets sslmode=require, and verify-ca with the system's roots, stand.
	AllowUnverifiedTLS bool
}

// PgxPoolConfig parses dsn as pgxpool.ParseConfig does (a URL or key=value; empty: the PG*
// variables), with sslmode=verify-full unless the DSN or PGSSLMODE chooses a mode, refuses a
// TLS setting that could expose the token unless opts allows it, and sets BeforeConnect so that
// every new physical connection logs in with a current token. The user is the DSN's (or
// PGUSER); when neither names one, the role the token is for.
func PgxPoolConfig(p *Provider, dsn string, opts PgxOptions) (*pgxpool.Config, error) {
	dsn = withDefaultSSLMode(dsn)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	if err := checkTLS(cfg.ConnConfig.Config, sslMode(dsn), opts); err != nil {
		return nil, err
	}
	cfg.BeforeConnect = BeforeConnect(p, !dsnHas(dsn, "user") && os.Getenv("PGUSER") == "")
	return cfg, nil
}

// BeforeConnect is a pgxpool.Config.BeforeConnect hook: it puts a token from p into each new
// connection's password, and with tokenUser its role into the user. pgxpool calls it for every
// physical connection (fill, growth, reconnects) with a copy of the config; concurrent calls
// share one identity request through passmint's cache, and a call returns when ctx is done.
func BeforeConnect(p *Provider, tokenUser bool) func(context.Context, *pgx.ConnConfig) error {
	return func(ctx context.Context, cc *pgx.ConnConfig) error {
		tok, err := p.TokenContext(ctx)
		if err != nil {
			return err
		}
		cc.Password = tok.Secret
		if tokenUser && tok.Username != "" {
			cc.User = tok.Username
		}
		return nil
	}
}

// checkTLS reads what pgx will do from its parsed config rather than from the string: a
// config with no TLS, first or as a fallback, may send the token in the clear; TLS that skips
// Go's verification and checks nothing else (require), or only the chain against the system's
// roots (verify-ca without sslrootcert), would hand it to anyone on the path.
func checkTLS(cc pgconn.Config, shown string, opts PgxOptions) error {
	plaintext := cc.TLSConfig == nil
	for _, f := range cc.Fallbacks {
		plaintext = plaintext || f.TLSConfig == nil
	}
	if plaintext {
		if opts.AllowPlaintext {
			return nil // a caller who accepts no TLS accepts prefer's unverified TLS too
		}
		return &Error{Status: InvalidConfig, Message: fmt.Sprintf("%s lets pgx send the database token without TLS; "+
			"use sslmode=verify-full, or set PgxOptions.AllowPlaintext if sending it unencrypted is intended", shown)}
	}
	if !opts.AllowUnverifiedTLS && !namesChecked(cc.TLSConfig) {
		return &Error{Status: InvalidConfig, Message: fmt.Sprintf("%s encrypts but does not check that the server "+
			"is the one you named, so anyone on the path could take the database token and use it elsewhere; use "+
			"sslmode=verify-full (the one-word fix for require), or set PgxOptions.AllowUnverifiedTLS if this is intended",
			shown)}
	}
	return nil
}

// namesChecked: Go's own verification, or pgx's verify-ca against a CA of the caller's own,
// which vouches for this server alone.
func namesChecked(c *tls.Config) bool {
	if !c.InsecureSkipVerify {
		return true
	}
	return c.VerifyPeerCertificate != nil && c.RootCAs != nil
}

// sslMode names the setting in force, as the refusal shows it.
func sslMode(dsn string) string {
	if isURL(dsn) {
		if u, err := url.Parse(dsn); err == nil && u.Query().Get("sslmode") != "" {
			return "sslmode=" + u.Query().Get("sslmode")
		}
	} else if m := regexp.MustCompile(`(?:^|\s)sslmode\s*=\s*'?([^\s']*)`).FindStringSubmatch(dsn); m != nil {
		return "sslmode=" + m[1]
	}
	if mode := os.Getenv("PGSSLMODE"); mode != "" {
		return "PGSSLMODE=" + mode
	}
	return "sslmode=prefer (pgx's default)"
}

func isURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// dsnHas reports whether a connection string sets a parameter (URL or key=value form).
func dsnHas(dsn, key string) bool {
	if isURL(dsn) {
		u, err := url.Parse(dsn)
		if err != nil {
			return false
		}
		if key == "user" && u.User != nil && u.User.Username() != "" {
			return true
		}
		return u.Query().Get(key) != ""
	}
	return regexp.MustCompile(`(?:^|\s)` + regexp.QuoteMeta(key) + `\s*=`).MatchString(dsn)
}

// withDefaultSSLMode adds sslmode=verify-full unless the DSN or PGSSLMODE chooses a mode.
func withDefaultSSLMode(dsn string) string {
	if dsnHas(dsn, "sslmode") || os.Getenv("PGSSLMODE") != "" {
		return dsn
	}
	if isURL(dsn) {
		if u, err := url.Parse(dsn); err == nil {
			q := u.Query()
			q.Set("sslmode", "verify-full")
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return strings.TrimSpace(dsn + " sslmode=verify-full")
}
