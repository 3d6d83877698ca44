// passmint-pgx: a pgx v5 connection pool whose every new connection logs in with a fresh
// passmint token, through the passmint Go module (github.com/passmint/passmint/go, cgo over
// libpassmint) and its pgxpool.Config.BeforeConnect hook.
//
//	passmint-pgx -provider 'azure://?credential=managed' -dsn 'host=mydb.postgres.database.azure.com dbname=app'
//	passmint-pgx -for postgresql://app@mydb.postgres.database.azure.com/app
//
// -dsn is any pgx connection string (URL or key=value; empty: the PG* variables alone). With
// -for, the postgres URL picks the provider and is the DSN unless -dsn is given. The user is
// the DSN's (or PGUSER); when neither names one, the role the token is for. TLS is
// sslmode=verify-full unless the DSN or PGSSLMODE chooses: the token is a password, so a mode
// that could expose it is refused unless -allow-plaintext or -allow-unverified-tls says so.
//
// Without -serve it opens one connection, prints it as JSON and exits. With -serve it reads
// commands from stdin, one per line, and answers each with one JSON line:
//
//	open N    acquire N more connections at once and hold them (a pool of 10: "open 10")
//	check     run a query on every held connection
//	stats     pool statistics and how often BeforeConnect ran
//	release   give every held connection back to the pool
//	quit      close the pool and exit (so does end of input)
//
// Open sessions outlive their token: only new connections need a new one, and passmint's
// cache refreshes it ahead of expiry, so connections opened later log in with the new token.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	passmint "github.com/passmint/passmint/go"
)

func main() {
	providerURL := flag.String("provider", "", "passmint provider URL (azure://, dsql://, rds://)")
	forURL := flag.String("for", "", "postgres URL: picks the provider from its host; also the DSN unless -dsn is given")
	dsn := flag.String("dsn", "", "pgx connection string (URL or key=value); empty: PG* variables")
	maxConns := flag.Int("max-conns", 20, "pool size limit")
	serve := flag.Bool("serve", false, "read commands from stdin (open N, check, stats, release, quit)")
	var opts passmint.PgxOptions
	flag.BoolVar(&opts.AllowPlaintext, "allow-plaintext", false, "let sslmode=disable/allow/prefer stand")
	flag.BoolVar(&opts.AllowUnverifiedTLS, "allow-unverified-tls", false, "let sslmode=require stand")
	flag.Parse()
	if (*providerURL == "") == (*forURL == "") || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: passmint-pgx (-provider URL | -for POSTGRES-URL) [-dsn DSN] [-max-conns N] "+
			"[-allow-plaintext] [-allow-unverified-tls] [-serve]")
		os.Exit(2)
	}
	if *forURL != "" && *dsn == "" {
		*dsn = *forURL
	}

	var provider *passmint.Provider
	var err error
	if *forURL != "" {
		provider, err = passmint.ForPostgresURL(*forURL)
	} else {
		provider, err = passmint.New(*providerURL)
	}
	if err != nil {
		fail(3, err)
	}
	defer provider.Close()

	app, err := newApp(provider, *dsn, *maxConns, opts)
	if err != nil {
		fail(2, err)
	}
	defer app.pool.Close()

	if !*serve {
		reply := app.open(1)
		app.release() // pool.Close waits for every acquired connection
		emit(reply)
		if reply["failed"].(int) > 0 {
			app.pool.Close()
			os.Exit(4)
		}
		return
	}
	emit(map[string]any{"ready": true, "passmint": passmint.Version()})
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fields := strings.Fields(in.Text())
		if len(fields) == 0 {
			continue
		}
		switch {
		case fields[0] == "open" && len(fields) == 2:
			n, err := strconv.Atoi(fields[1])
			if err != nil || n < 1 {
				emit(map[string]any{"error": "open needs a positive count"})
				continue
			}
			emit(app.open(n))
		case fields[0] == "check":
			emit(app.check())
		case fields[0] == "stats":
			emit(app.stats())
		case fields[0] == "release":
			emit(app.release())
		case fields[0] == "quit":
			app.release()
			emit(map[string]any{"bye": true})
			return
		default:
			emit(map[string]any{"error": fmt.Sprintf("unknown command %q", in.Text())})
		}
	}
	app.release()
}

type app struct {
	pool          *pgxpool.Pool
	beforeConnect atomic.Int64
	mu            sync.Mutex
	held          []*pgxpool.Conn
}

func newApp(provider *passmint.Provider, dsn string, maxConns int, opts passmint.PgxOptions) (*app, error) {
	cfg, err := passmint.PgxPoolConfig(provider, dsn, opts)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(maxConns)
	a := &app{}
	// Counts the hook's calls: one per new physical connection (fill, growth, reconnects).
	hook := cfg.BeforeConnect
	cfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
		a.beforeConnect.Add(1)
		return hook(ctx, cc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a.pool, err = pgxpool.NewWithConfig(ctx, cfg) // connects lazily
	return a, err
}

type connInfo struct {
	PID  uint32 `json:"pid"`
	User string `json:"user"`
	SSL  bool   `json:"ssl"`
}

func describe(ctx context.Context, c *pgxpool.Conn) (connInfo, error) {
	var info connInfo
	err := c.QueryRow(ctx, "SELECT pg_backend_pid(), current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").
		Scan(&info.PID, &info.User, &info.SSL)
	return info, err
}

// open acquires n connections at once (the pool opens new ones: the held ones are busy).
func (a *app) open(n int) map[string]any {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type outcome struct {
		conn *pgxpool.Conn
		info connInfo
		err  error
	}
	results := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := a.pool.Acquire(ctx)
			if err == nil {
				var info connInfo
				if info, err = describe(ctx, c); err != nil {
					c.Release()
					c = nil
				}
				results[i] = outcome{c, info, err}
				return
			}
			results[i] = outcome{err: err}
		}()
	}
	wg.Wait()
	conns, errs := []connInfo{}, []string{}
	a.mu.Lock()
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, r.err.Error())
			continue
		}
		a.held = append(a.held, r.conn)
		conns = append(conns, r.info)
	}
	held := len(a.held)
	a.mu.Unlock()
	return map[string]any{"cmd": "open", "acquired": len(conns), "failed": len(errs), "errors": errs,
		"conns": conns, "held": held, "before_connect": a.beforeConnect.Load()}
}

func (a *app) check() map[string]any {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a.mu.Lock()
	defer a.mu.Unlock()
	conns, errs := []connInfo{}, []string{}
	for _, c := range a.held {
		info, err := describe(ctx, c)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		conns = append(conns, info)
	}
	return map[string]any{"cmd": "check", "ok": len(conns), "failed": len(errs), "errors": errs, "conns": conns}
}

func (a *app) stats() map[string]any {
	s := a.pool.Stat()
	return map[string]any{"cmd": "stats", "total_conns": s.TotalConns(), "acquired_conns": s.AcquiredConns(),
		"new_conns": s.NewConnsCount(), "before_connect": a.beforeConnect.Load()}
}

func (a *app) release() map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.held {
		c.Release()
	}
	n := len(a.held)
	a.held = nil
	return map[string]any{"cmd": "release", "released": n}
}

func emit(v any) {
	line, err := json.Marshal(v)
	if err != nil {
		line = []byte(fmt.Sprintf(`{"error":%q}`, err.Error()))
	}
	fmt.Println(string(line))
}

func fail(code int, err error) {
	fmt.Fprintln(os.Stderr, "passmint-pgx:", err)
	os.Exit(code)
}
