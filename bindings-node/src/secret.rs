//! A token secret on its way into JS: the JS string is made straight from it, and this copy is
//! wiped when dropped. (The JS string itself lives in the V8 heap, which no addon can wipe.)

use napi::bindgen_prelude::{ToNapiValue, TypeName, ValueType};
use napi::sys;
use zeroize::Zeroizing;

pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn of(token: &passmint_core::Token) -> Self {
        Secret(Zeroizing::new(token.secret().to_string()))
    }
}

impl TypeName for Secret {
    fn type_name() -> &'static str {
        "string"
    }

    fn value_type() -> ValueType {
        ValueType::String
    }
}

impl ToNapiValue for Secret {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        // SAFETY: the caller's `env` is passed through unchanged, as napi requires.
        unsafe { <&str>::to_napi_value(env, val.0.as_str()) }
    }
}
