//go:build cgo

// Package passmint is the Go binding of libpassmint (include/passmint.h): short-lived
// PostgreSQL passwords from cloud identity, with passmint's cache shared by every goroutine,
// and a pgx v5 BeforeConnect hook that gives every new pool connection a current token.
//
// Build with CGO_ENABLED=1 and pkg-config able to find passmint.pc
// (PKG_CONFIG_PATH=<prefix>/lib/pkgconfig for a non-system prefix). At run time the loader
// must find libpassmint.so.0: a system install, LD_LIBRARY_PATH, or an rpath
// (go build -ldflags "-r <prefix>/lib").
package passmint

/*
#cgo pkg-config: passmint
#include <stdint.h>
#include <stdlib.h>
#include <passmint.h>

extern void passmintGoTokenCallback(void *user_data, passmint_status status, passmint_token *token, passmint_error *error);

// The handle travels through C as an integer-valued pointer, never dereferenced.
static passmint_status passmint_go_token_async(passmint_provider *p, uintptr_t handle) {
	return passmint_token_get_async(p, passmintGoTokenCallback, (void *)handle);
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime/cgo"
	"sync"
	"time"
	"unsafe"
)

// Status is a passmint status code (docs/DESIGN.md §6); its String is the C name.
type Status int

// The status codes of include/passmint.h.
const (
	OK                    Status = C.PASSMINT_OK
	InvalidArgument       Status = C.PASSMINT_INVALID_ARGUMENT
	InvalidConfig         Status = C.PASSMINT_INVALID_CONFIG
	CredentialUnavailable Status = C.PASSMINT_CREDENTIAL_UNAVAILABLE
	AuthenticationFailed  Status = C.PASSMINT_AUTHENTICATION_FAILED
	Timeout               Status = C.PASSMINT_TIMEOUT
	Network               Status = C.PASSMINT_NETWORK
	ProviderResponse      Status = C.PASSMINT_PROVIDER_RESPONSE
	Panic                 Status = C.PASSMINT_PANIC
	Internal              Status = C.PASSMINT_INTERNAL
)

// String is the status's C name, e.g. "PASSMINT_TIMEOUT".
func (s Status) String() string { return C.GoString(C.passmint_status_name(C.int32_t(s))) }

// Error is a failed passmint call: the status and passmint's message, which says what to
// fix and never contains a token or a secret.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string { return "passmint: " + e.Status.String() + ": " + e.Message }

// Is makes errors.Is(err, &passmint.Error{Status: passmint.Timeout}) match on the status.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Status == e.Status
}

// takeError converts and frees a passmint_error (nil when there is none). Callers convert
// the C status to Status (cgo's C.passmint_status is a distinct Go type).
func takeError(status Status, e *C.passmint_error) error {
	if status == OK {
		C.passmint_error_free(e)
		return nil
	}
	err := &Error{Status: status, Message: "(no message)"}
	if msg := C.passmint_error_message(e); msg != nil {
		err.Message = C.GoString(msg)
	}
	C.passmint_error_free(e)
	return err
}

// Token is a minted password. Secret is a Go copy: C's copy is zeroized when it is freed,
// but Go strings cannot be, so keep tokens short-lived and never log Secret.
type Token struct {
	Secret    string
	ExpiresAt time.Time
	Username  string // the database role the token is for; "" when unknown
	Provider  string // "azure", "dsql", "rds", "gcp", "vault", "awssm", "file", "exec" or "callback"
}

// String shows everything but the secret.
func (t Token) String() string {
	return fmt.Sprintf("passmint.Token{Provider: %q, Username: %q, ExpiresAt: %s}", t.Provider, t.Username,
		t.ExpiresAt.UTC().Format(time.RFC3339))
}

// takeToken copies and frees a passmint_token.
func takeToken(t *C.passmint_token) Token {
	tok := Token{
		Secret:    C.GoString(C.passmint_token_secret(t)),
		ExpiresAt: time.Unix(int64(C.passmint_token_expires_at(t)), 0),
		Provider:  C.GoString(C.passmint_token_provider(t)),
	}
	if u := C.passmint_token_username(t); u != nil {
		tok.Username = C.GoString(u)
	}
	C.passmint_token_free(t)
	return tok
}

// Provider mints tokens for one database target. Build one and share it: every goroutine
// then shares its cache (one identity request however many connections open at once).
type Provider struct {
	mu sync.RWMutex // Close waits for calls in progress
	p  *C.passmint_provider
}

var errClosed = &Error{Status: InvalidArgument, Message: "the provider is closed"}

// New configures a provider from a provider URL: "azure://", "dsql://<cluster>", "rds://...", "gcp://".
func New(url string) (*Provider, error) {
	return newProvider(url, false)
}

// ForPostgresURL picks the provider from a postgres URL's host name (and takes its user and port).
func ForPostgresURL(url string) (*Provider, error) {
	return newProvider(url, true)
}

func newProvider(url string, postgres bool) (*Provider, error) {
	curl := C.CString(url)
	defer C.free(unsafe.Pointer(curl))
	var p *C.passmint_provider
	var e *C.passmint_error
	var st Status
	if postgres {
		st = Status(C.passmint_provider_for_postgres_url(curl, &p, &e))
	} else {
		st = Status(C.passmint_provider_new(curl, &p, &e))
	}
	if err := takeError(st, e); err != nil {
		return nil, err
	}
	return &Provider{p: p}, nil
}

// Token returns a token, from the cache when it is fresh. It blocks for at most passmint's
// 10 s deadline (a cache hit takes nanoseconds).
func (p *Provider) Token() (Token, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.p == nil {
		return Token{}, errClosed
	}
	var t *C.passmint_token
	var e *C.passmint_error
	if err := takeError(Status(C.passmint_token_get(p.p, &t, &e)), e); err != nil {
		return Token{}, err
	}
	return takeToken(t), nil
}

type result struct {
	token Token
	err   error
}

//export passmintGoTokenCallback
func passmintGoTokenCallback(userData unsafe.Pointer, status C.passmint_status, t *C.passmint_token, e *C.passmint_error) {
	h := cgo.Handle(uintptr(userData))
	done := h.Value().(chan result)
	h.Delete()
	var r result
	if r.err = takeError(Status(status), e); r.err == nil {
		r.token = takeToken(t)
	} else {
		C.passmint_token_free(t)
	}
	done <- r // buffered: never blocks passmint's thread, even if the caller gave up
}

// TokenContext is Token that also returns when ctx is done (ctx.Err()); the fetch then
// finishes in the background and still fills the cache. It runs on passmint's own threads
// (passmint_token_get_async), so no goroutine is blocked in C meanwhile.
func (p *Provider) TokenContext(ctx context.Context) (Token, error) {
	if ctx.Done() == nil {
		return p.Token()
	}
	done := make(chan result, 1)
	h := cgo.NewHandle(done)
	p.mu.RLock()
	closed := p.p == nil
	st := OK
	if !closed {
		st = Status(C.passmint_go_token_async(p.p, C.uintptr_t(h)))
	}
	p.mu.RUnlock()
	if closed || st != OK {
		h.Delete() // refused: the callback will never run
		if closed {
			return Token{}, errClosed
		}
		return Token{}, &Error{Status: st, Message: "passmint_token_get_async refused the call"}
	}
	select {
	case r := <-done:
		return r.token, r.err
	case <-ctx.Done():
		return Token{}, ctx.Err()
	}
}

// Invalidate drops the cached token, so the next Token fetches a new one: for a secret rotated
// before the expiry passmint knew of.
func (p *Provider) Invalidate() error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.p == nil {
		return errClosed
	}
	var e *C.passmint_error
	return takeError(Status(C.passmint_provider_invalidate(p.p, &e)), e)
}

// PasswordRefused tells the provider a server refused password (SQLSTATE 28P01). For the
// sources whose secrets rotate early (vault, awssm, file, exec) it drops the cached token if it
// is still that one and returns true: connect again once. For IAM tokens it returns false: a
// retry would only hide a wrong role or policy. pgx reports the refusal from pool.Acquire (a
// *pgconn.PgError with Code "28P01"); call this with the password the hook gave, then acquire again.
func (p *Provider) PasswordRefused(password string) (bool, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.p == nil {
		return false, errClosed
	}
	cpw := C.CString(password)
	defer C.free(unsafe.Pointer(cpw))
	var retry C.int
	var e *C.passmint_error
	if err := takeError(Status(C.passmint_provider_password_refused(p.p, cpw, &retry, &e)), e); err != nil {
		return false, err
	}
	return retry != 0, nil
}

// Close frees the provider once calls in progress have returned. Async calls already
// started still call back (passmint keeps what they need). Close is idempotent.
func (p *Provider) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	C.passmint_provider_free(p.p)
	p.p = nil
}

// Version is libpassmint's version.
func Version() string { return C.GoString(C.passmint_version()) }
