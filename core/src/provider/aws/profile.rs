//! The AWS config files (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, `AWS_PROFILE`), read
//! by aws-config's own loader so passmint sees the profiles every AWS SDK sees.

use std::borrow::Cow;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use aws_config::profile::{Profile, ProfileSet};
use aws_types::os_shim_internal::{Env, Fs};

/// The profiles, with `profile` (the URL's) in place of `AWS_PROFILE` when given. An
/// unreadable or malformed file gives `None`: the credential chain reports it with its fix.
pub(super) fn load(profile: Option<&str>) -> Option<ProfileSet> {
    let (fs, env) = (Fs::real(), Env::real());
    let files = Default::default();
    let loading = aws_config::profile::load(
        &fs,
        &env,
        &files,
        profile.map(|p| Cow::Owned(p.to_string())),
    );
    ready(loading)?.ok()
}

/// The selected profile and its name, if the files define it.
pub(super) fn selected(profiles: &ProfileSet) -> Option<(&str, &Profile)> {
    let name = profiles.selected_profile();
    Some((name, profiles.get_profile(name)?))
}

/// The output of a future that never waits. aws-config's loader is `async` only in name (it
/// reads with `std::fs`), and URL parsing is synchronous and may run inside or outside a
/// runtime, so it is polled once here rather than handed to one.
fn ready<F: Future>(future: F) -> Option<F::Output> {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}
