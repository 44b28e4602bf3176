//! The decoy binary every decky's image runs, and the check that it can run there.
//!
//! The image is `FROM scratch`: no dynamic loader, no libc. A dynamically linked binary
//! (what a plain `cargo build` makes of `decnet-decoy`) would be copied in and every
//! container would exit at once with "no such file or directory", which says nothing about
//! the cause. So the binary is checked before anything is created: an ELF executable with
//! no interpreter (`PT_INTERP`) is the only kind accepted.

use std::borrow::Cow;
use std::path::Path;

use object::elf::PT_INTERP;
use object::read::elf::{FileHeader, ProgramHeader};

use crate::RuntimeError;

/// What to do about a decoy binary the image cannot run.
const FIX: &str = "use the decoy `decnet` carries (leave --decoy-bin and DECNET_DECOY_BIN unset) \
                   or build a static one with scripts/build-decoy.sh";

/// A decoy binary and where it came from.
#[derive(Debug, Clone)]
pub struct DecoyBinary {
    bytes: Cow<'static, [u8]>,
    origin: String,
}

impl DecoyBinary {
    /// A binary compiled into the caller (`decnet` embeds a static build).
    pub fn embedded(bytes: &'static [u8]) -> Self {
        Self { bytes: Cow::Borrowed(bytes), origin: "the decoy built into decnet".into() }
    }

    /// A binary read from `path`.
    pub fn read(path: &Path) -> Result<Self, RuntimeError> {
        let bytes = std::fs::read(path)
            .map_err(|e| RuntimeError::DecoyBinary(format!("decoy binary {}: {e}; {FIX}", path.display())))?;
        Ok(Self { bytes: Cow::Owned(bytes), origin: path.display().to_string() })
    }

    /// The binary's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Refuses a binary that a `FROM scratch` image cannot run: not an ELF executable, or
    /// dynamically linked.
    pub fn check_static(&self) -> Result<(), RuntimeError> {
        let refuse = |why: &str| RuntimeError::DecoyBinary(format!("{} {why}; {FIX}", self.origin));
        let data: &[u8] = &self.bytes;
        let interpreter = match object::FileKind::parse(data) {
            Ok(object::FileKind::Elf64) => has_interpreter::<object::elf::FileHeader64<object::Endianness>>(data),
            Ok(object::FileKind::Elf32) => has_interpreter::<object::elf::FileHeader32<object::Endianness>>(data),
            _ => return Err(refuse("is not an ELF executable")),
        };
        match interpreter {
            Some(false) => Ok(()),
            Some(true) => {
                Err(refuse("is dynamically linked, and the FROM scratch decoy image has no loader or libc to run it"))
            }
            None => Err(refuse("is not a readable ELF executable")),
        }
    }
}

/// Whether the ELF file has a program interpreter (is dynamically linked); `None` when its
/// headers do not parse.
fn has_interpreter<H: FileHeader<Endian = object::Endianness>>(data: &[u8]) -> Option<bool> {
    let header = H::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let segments = header.program_headers(endian, data).ok()?;
    Some(segments.iter().any(|segment| segment.p_type(endian) == PT_INTERP))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_running_test_binary_is_dynamic_and_refused_with_the_fix() {
        // Test binaries are linked like a plain `cargo build` links the decoy.
        let exe = std::env::current_exe().unwrap();
        let err = DecoyBinary::read(&exe).unwrap().check_static().unwrap_err().to_string();
        assert!(err.contains("dynamically linked") && err.contains("scripts/build-decoy.sh"), "{err}");
    }

    #[test]
    fn an_unaligned_copy_of_a_binary_is_read() {
        // Embedded bytes have no alignment; the headers must parse all the same.
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let mut shifted = vec![0u8];
        shifted.extend_from_slice(&exe);
        let binary = DecoyBinary::embedded(Box::leak(shifted.into_boxed_slice()).get(1..).unwrap());
        assert!(binary.check_static().unwrap_err().to_string().contains("dynamically linked"));
    }

    #[test]
    fn a_file_that_is_not_elf_is_refused() {
        let binary = DecoyBinary::embedded(b"#!/bin/sh\necho hi\n");
        let err = binary.check_static().unwrap_err().to_string();
        assert!(err.contains("not an ELF executable"), "{err}");
    }

    #[test]
    fn a_missing_file_names_the_path_and_the_fix() {
        let err = DecoyBinary::read(Path::new("/nonexistent/decnet-decoy")).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/decnet-decoy") && err.contains("build-decoy.sh"), "{err}");
    }
}
