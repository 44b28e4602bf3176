//! Property tests of every protocol parser: any bytes give "need more", "violation" or a
//! frame that consumed no more than was there; never a panic. A frame cut short is
//! "need more", never a violation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use decnet_decoy::server::Parse;
use decnet_decoy::services::{http, mysql, postgres, redis, telnet};
use proptest::prelude::*;

fn consumed_at_most<T>(parsed: &Parse<T>, len: usize) -> bool {
    match parsed {
        Parse::Done(_, used) => *used <= len && *used > 0,
        _ => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn redis_frames(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(consumed_at_most(&redis::parse(&bytes), bytes.len()));
    }

    #[test]
    fn redis_truncation_is_incomplete(args in proptest::collection::vec("[a-z]{0,12}", 1..6), cut in any::<prop::sample::Index>()) {
        let mut frame = format!("*{}\r\n", args.len());
        for arg in &args {
            frame.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        let bytes = frame.as_bytes();
        let at = cut.index(bytes.len());
        prop_assert_eq!(redis::parse(&bytes[..at]), Parse::Incomplete);
        prop_assert!(matches!(redis::parse(bytes), Parse::Done(_, n) if n == bytes.len()));
    }

    #[test]
    fn http_heads(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(consumed_at_most(&http::parse(&bytes), bytes.len()));
    }

    #[test]
    fn mysql_packets_and_logins(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(consumed_at_most(&mysql::parse(&bytes), bytes.len()));
        let _ = mysql::parse_login(&bytes);
    }

    #[test]
    fn postgres_messages(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(consumed_at_most(&postgres::parse_startup(&bytes), bytes.len()));
        prop_assert!(consumed_at_most(&postgres::parse_typed(&bytes), bytes.len()));
    }

    #[test]
    fn telnet_streams_decode_the_same_however_they_are_split(bytes in proptest::collection::vec(any::<u8>(), 0..1024), cut in any::<prop::sample::Index>()) {
        let whole = telnet::Decoder::default().feed(&bytes);
        let at = cut.index(bytes.len() + 1);
        let mut split = telnet::Decoder::default();
        let mut parts = split.feed(&bytes[..at]);
        parts.extend(split.feed(&bytes[at..]));
        prop_assert_eq!(whole, parts);
    }
}
