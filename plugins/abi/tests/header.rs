//! `llmtrace_plugin.h` is generated from this crate's Rust definitions by cbindgen and checked
//! in: this test regenerates it and fails when the checked-in copy differs, so the C header
//! and the Rust types cannot disagree. `LLMTRACE_BLESS=1` rewrites the file instead.

use std::path::Path;

#[test]
fn the_checked_in_c_header_matches_the_rust_definitions() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen can read the ABI crate")
        .write(&mut generated);
    let generated = String::from_utf8(generated).unwrap();

    let path = crate_dir.join("llmtrace_plugin.h");
    if std::env::var_os("LLMTRACE_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{} is out of date with the Rust definitions; regenerate it with \
         `LLMTRACE_BLESS=1 cargo test -p llmtrace-plugin-abi --test header`",
        path.display()
    );
}

/// Compiles a file including the header with the system C compiler (`cc`), for `args`.
fn compile_header(args: &[&str]) -> std::process::Output {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let source = dir.join("include_header.c");
    std::fs::write(&source, "#include \"llmtrace_plugin.h\"\n").unwrap();
    std::process::Command::new("cc")
        .args([
            "-fsyntax-only",
            "-ffreestanding",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
        ])
        .args(args)
        .arg("-I")
        .arg(crate_dir)
        .arg(&source)
        .output()
        .expect("a C compiler (`cc`) is installed")
}

#[test]
fn the_header_compiles_as_c_and_cpp_and_its_layout_asserts_hold_for_64_and_32_bit() {
    // `-ffreestanding` needs only the compiler's own headers, so the 32-bit check runs
    // without a 32-bit C library.
    for args in [
        &["-std=c11", "-m64"][..],
        &["-std=c11", "-m32"],
        &["-x", "c++", "-std=c++11", "-m64"],
    ] {
        let output = compile_header(args);
        assert!(
            output.status.success(),
            "cc {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
