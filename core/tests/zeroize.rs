//! The token's secret is wiped before its memory is freed (docs/DESIGN.md §7), checked at the
//! allocator: this test binary's global allocator looks at the watched block as it is freed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

struct Watching;

static WATCHED: AtomicUsize = AtomicUsize::new(0);
static WATCHED_LEN: AtomicUsize = AtomicUsize::new(0);
static FREED: AtomicBool = AtomicBool::new(false);
static FREED_ZEROED: AtomicBool = AtomicBool::new(false);

unsafe impl GlobalAlloc for Watching {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ptr as usize == WATCHED.load(Ordering::SeqCst) {
            let len = WATCHED_LEN.load(Ordering::SeqCst);
            // SAFETY: the block is still ours until System.dealloc below; len <= its size.
            let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
            FREED_ZEROED.store(bytes.iter().all(|&b| b == 0), Ordering::SeqCst);
            FREED.store(true, Ordering::SeqCst);
        }
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Watching = Watching;

#[test]
fn the_secret_is_zeroed_before_its_memory_is_freed() {
    // Static credentials: the token is signed locally, no network.
    // SAFETY: set before any other thread of this test binary reads the environment.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
        std::env::set_var(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        );
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    }
    let provider =
        passmint::Provider::from_url("dsql://abc123example.dsql.us-east-1.on.aws").unwrap();
    let token = provider.token_blocking().unwrap();
    let clone = token.clone(); // a cache hit's copy shares the block
    assert!(token.secret().contains("X-Amz-Signature="));
    WATCHED_LEN.store(token.secret().len(), Ordering::SeqCst);
    WATCHED.store(token.secret().as_ptr() as usize, Ordering::SeqCst);
    drop(token);
    drop(clone);
    assert!(
        !FREED.load(Ordering::SeqCst),
        "the provider's cache still holds the token"
    );
    drop(provider);
    // The runtime task that fetched it lets go of its provider clone a moment after answering.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !FREED.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(
        FREED.load(Ordering::SeqCst),
        "the token's secret was never freed"
    );
    assert!(
        FREED_ZEROED.load(Ordering::SeqCst),
        "the secret was freed without being wiped"
    );
}
