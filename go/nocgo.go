//go:build !cgo

package passmint

// passmint calls libpassmint through cgo. Without cgo (CGO_ENABLED=0, or a cross build with
// no C compiler) the build stops here, with the fix in the undefined name it reports.
var _ = passmint_needs_cgo__build_with_CGO_ENABLED_1_a_C_compiler_and_pkg_config_finding_passmint_pc
