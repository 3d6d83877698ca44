//! The committed header is what cbindgen makes of the current sources.

#[test]
fn committed_header_is_fresh() {
    let fresh = include_str!(concat!(env!("OUT_DIR"), "/passmint.h"));
    let committed = include_str!("../../include/passmint.h");
    assert!(
        fresh == committed,
        "include/passmint.h is stale: run `make header` and commit it"
    );
}
