//! Builds the statically linked `decnet-decoy` that `decnet` carries.
//!
//! Every decky runs the decoy in a `FROM scratch` image, where a dynamically linked binary
//! cannot start (there is no loader or libc in the image). A plain `cargo build` links the
//! workspace's binaries dynamically, and `+crt-static` cannot be set for a whole workspace
//! build (proc-macro crates cannot be static), so this script builds the decoy once more,
//! statically, for an explicit `--target` in its own target directory, and `decnet` embeds
//! the result. `scripts/build-decoy.sh` builds into the same directory, so the work is
//! shared.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=../decoy");
    println!("cargo:rerun-if-changed=../domain");
    println!("cargo:rerun-if-changed=../../Cargo.lock");
    println!("cargo:rerun-if-changed=../../Cargo.toml");
    if let Err(message) = build() {
        println!("cargo:warning={message}");
        std::process::exit(1);
    }
}

fn build() -> Result<(), String> {
    let var = |name: &str| std::env::var(name).map_err(|e| format!("{name}: {e}"));
    let manifest_dir = PathBuf::from(var("CARGO_MANIFEST_DIR")?);
    let workspace = manifest_dir.join("../..");
    let out_dir = PathBuf::from(var("OUT_DIR")?);
    let target = var("TARGET")?;
    let target_dir = target_root(&out_dir).unwrap_or_else(|| workspace.join("target")).join("static-decoy");
    let status = Command::new(var("CARGO")?)
        .current_dir(&workspace)
        .args(["build", "--release", "--locked", "-p", "decnet-decoy", "--target", &target, "--target-dir"])
        .arg(&target_dir)
        // The outer build's flags and wrappers (e.g. clippy's) are not the decoy's.
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .map_err(|e| format!("running cargo for the static decoy: {e}"))?;
    if !status.success() {
        return Err(format!("building the static decoy failed ({status}); see the output above"));
    }
    let built = target_dir.join(&target).join("release").join("decnet-decoy");
    std::fs::copy(&built, out_dir.join("decnet-decoy"))
        .map_err(|e| format!("copying the static decoy {}: {e}", built.display()))?;
    Ok(())
}

/// The target directory of the outer build: the outermost ancestor of `OUT_DIR` that cargo
/// marked with `CACHEDIR.TAG`.
fn target_root(out_dir: &Path) -> Option<PathBuf> {
    out_dir.ancestors().filter(|dir| dir.join("CACHEDIR.TAG").is_file()).last().map(Path::to_path_buf)
}
