//! Generates include/passmint.h's fresh twin in OUT_DIR (a test compares the two; `make
//! header` copies it over) and gives the shared library its soname.

use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("passmint.h");
    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("ffi/cbindgen.toml is readable");
    // The version the header was made for, for `#if` checks at compile time; one source, Cargo.toml.
    let part = |name: &str| std::env::var(name).expect("cargo sets the package version");
    config.after_includes = Some(format!(
        "\n#define PASSMINT_VERSION_MAJOR {}\n#define PASSMINT_VERSION_MINOR {}\n#define PASSMINT_VERSION_PATCH {}\n#define PASSMINT_VERSION_STRING \"{}\"",
        part("CARGO_PKG_VERSION_MAJOR"),
        part("CARGO_PKG_VERSION_MINOR"),
        part("CARGO_PKG_VERSION_PATCH"),
        part("CARGO_PKG_VERSION"),
    ));
    cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen can read ffi/src")
        .write_to_file(&out);
    // `make header` sets this to refresh the committed copy.
    if std::env::var_os("PASSMINT_WRITE_HEADER").is_some() {
        std::fs::copy(&out, crate_dir.join("../include/passmint.h")).expect("include/ is writable");
    }
    // ABI version 0: bumped only when a released signature changes. Each platform's linker
    // spells the library's own name differently; Windows DLLs have none.
    match std::env::var("CARGO_CFG_TARGET_OS").as_deref() {
        Ok("macos" | "ios") => {
            println!("cargo:rustc-cdylib-link-arg=-Wl,-install_name,@rpath/libpassmint.0.dylib")
        }
        Ok("windows") => {}
        _ => println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libpassmint.so.0"),
    }
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=PASSMINT_WRITE_HEADER");
}
