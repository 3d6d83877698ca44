use std::ffi::{CString, c_char, c_void};

use passmint_core::{ProviderKind, Token};

use crate::boundary::{Shield, free, handle, opt_ref, out_arg};
use crate::error::passmint_error;
use crate::provider::passmint_provider;
use crate::status::passmint_status;

/// A token handed to C: its own copy of the secret, so that freeing it can zeroize the
/// memory the caller saw (the cache's copy is zeroized when the cache lets go of it).
pub struct passmint_token {
    /// The secret and a trailing NUL.
    secret: Secret,
    username: Option<CString>,
    provider: &'static [u8],
    expires_at: i64,
}

impl passmint_token {
    fn new(t: &Token) -> Box<passmint_token> {
        let bytes = t.secret().as_bytes();
        let mut secret = Vec::with_capacity(bytes.len() + 1);
        secret.extend_from_slice(bytes);
        secret.push(0);
        let secret = Secret(secret);
        let provider = PROVIDER_NAMES[t.kind().index()];
        Box::new(passmint_token {
            secret,
            username: t.username().and_then(|u| CString::new(u).ok()),
            provider,
            expires_at: t.expires_at(),
        })
    }
}

/// Each provider kind's name as a C string, in the order of `ProviderKind::ALL`: its length is
/// that list's, so a kind added in the core does not compile here until it has its name.
const PROVIDER_NAMES: [&[u8]; ProviderKind::ALL.len()] = [
    b"azure\0",
    b"dsql\0",
    b"rds\0",
    b"gcp\0",
    b"vault\0",
    b"awssm\0",
    b"file\0",
    b"exec\0",
    b"callback\0",
];

/// A NUL-terminated copy of a secret, wiped when freed.
struct Secret(Vec<u8>);

impl Drop for Secret {
    fn drop(&mut self) {
        let (ptr, len) = (self.0.as_mut_ptr(), self.0.capacity());
        // One memset, not the zeroize crate's byte-at-a-time volatile loop, which cost more
        // than the rest of a cached get for ~1.5 KB tokens (DSQL and RDS with session
        // credentials). Portable where `explicit_bzero` is not (macOS, Windows, glibc < 2.25).
        // SAFETY: the pointer and capacity describe this Vec's own allocation.
        unsafe { std::ptr::write_bytes(ptr, 0, len) };
        // The buffer is freed next, so the memset is a dead store the optimiser may drop;
        // handing the pointer to black_box makes it assume the zeros are read.
        std::hint::black_box(ptr);
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    }
}

/// Called exactly once with the outcome of `passmint_token_get_async`, on one of
/// passmint's own threads: `token` on success (and `error` NULL), `error` otherwise (and
/// `token` NULL). The callback owns both and frees them with `passmint_token_free` /
/// `passmint_error_free`. It must not block for long: it runs on passmint's runtime.
pub type passmint_token_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        status: passmint_status,
        token: *mut passmint_token,
        error: *mut passmint_error,
    ),
>;

/// A token, from the cache when it is fresh (no I/O, no lock); otherwise blocks this thread
/// until one is fetched, never longer than the deadline (10 s). Concurrent callers on a
/// cold cache share one identity request. On success `*out` is a new token to free with
/// `passmint_token_free`; on failure it is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_token_get(
    p: *const passmint_provider,
    out: *mut *mut passmint_token,
    err: *mut *mut passmint_error,
) -> passmint_status {
    Shield::status(err, || {
        let slot = out_arg(out, "out")?;
        let provider = handle(p, "provider")?;
        let token = provider
            .inner
            .token_blocking()
            .map_err(|e| passmint_error::from_core(&e))?;
        *slot = Box::into_raw(passmint_token::new(&token));
        Ok(())
    })
}

/// Pointer and context, sent to passmint's thread together (the caller vouches for them).
struct Callback {
    cb: unsafe extern "C" fn(
        *mut c_void,
        passmint_status,
        *mut passmint_token,
        *mut passmint_error,
    ),
    user_data: *mut c_void,
}

// SAFETY: the caller of passmint_token_get_async hands `user_data` to another thread by
// contract; passmint only passes it back, never dereferences it.
unsafe impl Send for Callback {}

impl Callback {
    fn call(self, result: passmint_core::Result<Token>) {
        let (status, token, error) = match result {
            Ok(t) => (
                passmint_status::PASSMINT_OK,
                Box::into_raw(passmint_token::new(&t)),
                std::ptr::null_mut(),
            ),
            Err(e) => (
                e.kind().into(),
                std::ptr::null_mut(),
                Box::into_raw(passmint_error::from_core(&e)),
            ),
        };
        // SAFETY: `cb` is the caller's function, called once with the contract's arguments.
        unsafe { (self.cb)(self.user_data, status, token, error) };
    }
}

/// Starts fetching a token and returns at once; `cb` is called exactly once, on one of
/// passmint's threads, with `user_data` and the outcome (see `passmint_token_callback`).
/// Returns PASSMINT_OK when the call was started; any other status means `cb` will never
/// be called (NULL `p` or `cb`: PASSMINT_INVALID_ARGUMENT).
#[unsafe(no_mangle)]
pub extern "C" fn passmint_token_get_async(
    p: *const passmint_provider,
    cb: passmint_token_callback,
    user_data: *mut c_void,
) -> passmint_status {
    Shield::status(std::ptr::null_mut(), || {
        let provider = handle(p, "provider")?;
        let Some(cb) = cb else {
            return Err(crate::boundary::invalid("cb is NULL"));
        };
        let callback = Callback { cb, user_data };
        provider
            .inner
            .token_with(move |result| callback.call(result))
            .map_err(|e| passmint_error::from_core(&e))
    })
}

/// The password to send to the server (NUL-terminated), valid until
/// `passmint_token_free(t)`; NULL when `t` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_token_secret(t: *const passmint_token) -> *const c_char {
    Shield::value(std::ptr::null(), || {
        opt_ref(t).map_or(std::ptr::null(), |t| t.secret.0.as_ptr().cast())
    })
}

/// When the server stops accepting the token, in unix seconds; 0 when `t` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_token_expires_at(t: *const passmint_token) -> i64 {
    Shield::value(0, || opt_ref(t).map_or(0, |t| t.expires_at))
}

/// The database role the token is for, when known (valid until `passmint_token_free(t)`);
/// NULL when unknown or when `t` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_token_username(t: *const passmint_token) -> *const c_char {
    Shield::value(std::ptr::null(), || {
        opt_ref(t)
            .and_then(|t| t.username.as_ref())
            .map_or(std::ptr::null(), |u| u.as_ptr())
    })
}

/// The provider kind, `"azure"`, `"dsql"` or `"rds"` (a static string); NULL when `t` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_token_provider(t: *const passmint_token) -> *const c_char {
    Shield::value(std::ptr::null(), || {
        opt_ref(t).map_or(std::ptr::null(), |t| t.provider.as_ptr().cast())
    })
}

/// Frees a token, zeroizing its copy of the secret first. NULL is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_token_free(t: *mut passmint_token) {
    Shield::value((), || free(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// Looks at one watched block as it is freed (as core/tests/zeroize.rs does for the core's copy).
    struct Watching;
    static WATCHED: AtomicUsize = AtomicUsize::new(0);
    static FREED_ZEROED: AtomicBool = AtomicBool::new(false);

    unsafe impl GlobalAlloc for Watching {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if ptr as usize == WATCHED.load(Ordering::SeqCst) {
                // SAFETY: the block is still ours until System.dealloc below.
                let bytes = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
                FREED_ZEROED.store(bytes.iter().all(|&b| b == 0), Ordering::SeqCst);
            }
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Watching = Watching;

    #[test]
    fn the_c_copy_of_a_secret_is_wiped_before_it_is_freed() {
        let mut bytes = Vec::with_capacity(1600);
        bytes.extend(std::iter::repeat_n(b'x', 1599));
        bytes.push(0);
        let secret = Secret(bytes);
        WATCHED.store(secret.0.as_ptr() as usize, Ordering::SeqCst);
        drop(secret);
        assert!(
            FREED_ZEROED.load(Ordering::SeqCst),
            "freed without being wiped"
        );
    }

    #[test]
    fn provider_names_follow_the_core_list_of_kinds() {
        for kind in ProviderKind::ALL {
            let name = PROVIDER_NAMES[kind.index()];
            assert_eq!(&name[..name.len() - 1], kind.name().as_bytes());
        }
    }
}
