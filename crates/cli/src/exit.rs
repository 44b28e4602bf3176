//! The exit codes of `decnet`: one table, which `--help` prints and the README repeats (a
//! test checks both), and the one mapping from a failure's kind to its code.

use decnet_domain::ErrorKind;

/// Success.
pub const OK: u8 = 0;
/// A fault of ours, or the container runtime failed or cannot be reached.
pub const INTERNAL: u8 = 1;
/// The command was invoked wrongly.
pub const USAGE: u8 = 2;
/// Validation or a guard refused the request.
pub const REFUSED: u8 = 3;
/// A conflict with the current state.
pub const CONFLICT: u8 = 4;
/// What was named does not exist.
pub const NOT_FOUND: u8 = 5;
/// The server did not accept the credentials or the role.
pub const DENIED: u8 = 6;

/// Every exit code with its meaning, in order.
pub const TABLE: &[(u8, &str)] = &[
    (OK, "ok"),
    (INTERNAL, "internal error, or the container runtime failed or cannot be reached"),
    (USAGE, "usage error: bad flags or parameters, unreadable file, malformed `--payload` JSON, unusable decoy binary"),
    (REFUSED, "refused: validation or a guard rejected the request; nothing changed"),
    (CONFLICT, "conflict: stale `--expected-version`, a taken name, or the topology's status forbids it"),
    (NOT_FOUND, "not found"),
    (DENIED, "not allowed (`--server`): no valid login, or the user's role forbids it"),
];

/// The exit code of a failure of `kind`.
pub fn for_kind(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::BadRequest | ErrorKind::InvalidBody | ErrorKind::UnsupportedMediaType | ErrorKind::TooLarge => USAGE,
        ErrorKind::Refused => REFUSED,
        ErrorKind::Conflict => CONFLICT,
        ErrorKind::NotFound => NOT_FOUND,
        ErrorKind::Unauthenticated | ErrorKind::Forbidden => DENIED,
        ErrorKind::RateLimited | ErrorKind::Unavailable | ErrorKind::NotImplemented | ErrorKind::Internal => INTERNAL,
    }
}

/// The `Exit codes:` section of `--help`.
pub fn help() -> String {
    let mut text = String::from("Exit codes:");
    for (code, meaning) in TABLE {
        text.push_str(&format!("\n  {code}  {}", meaning.replace('`', "")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_documented_code() {
        for kind in ErrorKind::ALL {
            let code = for_kind(kind);
            assert!(TABLE.iter().any(|(c, _)| *c == code), "{kind} maps to undocumented {code}");
        }
    }

    #[test]
    fn the_readme_lists_exactly_the_table() {
        let readme = include_str!("../../../README.md");
        let section = readme.split("### Exit codes").nth(1).unwrap_or_default();
        let rows: Vec<String> = section
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2) // header and separator
            .map(str::to_owned)
            .collect();
        let expected: Vec<String> = TABLE.iter().map(|(code, meaning)| format!("| {code} | {meaning} |")).collect();
        assert_eq!(rows, expected);
    }

    #[test]
    fn help_lists_every_code() {
        let help = help();
        for (code, meaning) in TABLE {
            assert!(help.contains(&format!("  {code}  {}", meaning.replace('`', ""))), "{help}");
        }
    }
}
