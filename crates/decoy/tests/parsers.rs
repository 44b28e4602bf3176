//! Property tests of every protocol parser: any bytes give "need more", "violation" or a
//! frame that consumed no more than was there; never a panic. A frame cut short is
//! "need more", never a violation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use decnet_decoy::server::Parse;
use decnet_decoy::services::{conpot, dns, http, mongodb, mqtt, mysql, postgres, redis, sip, telnet, vnc};
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
    fn vnc_mqtt_dns_and_sip_frames(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(consumed_at_most(&vnc::parse_version(&bytes), bytes.len()));
        prop_assert!(consumed_at_most(&mqtt::parse(&bytes), bytes.len()));
        prop_assert!(consumed_at_most(&dns::parse(&bytes), bytes.len()));
        prop_assert!(consumed_at_most(&sip::parse(&bytes), bytes.len()));
    }

    #[test]
    fn vnc_mqtt_dns_and_sip_truncation_is_incomplete(topic in "[a-z/]{1,40}", payload in proptest::collection::vec(any::<u8>(), 0..300), cut in any::<prop::sample::Index>()) {
        let version = b"RFB 003.008\n";
        prop_assert_eq!(vnc::parse_version(&version[..cut.index(version.len())]), Parse::Incomplete);

        let mut body = vec![0, topic.len() as u8];
        body.extend_from_slice(topic.as_bytes());
        body.extend_from_slice(&payload);
        let mut publish = vec![0x30];
        let mut len = body.len();
        loop {
            let byte = (len % 128) as u8;
            len /= 128;
            publish.push(if len > 0 { byte | 0x80 } else { byte });
            if len == 0 {
                break;
            }
        }
        publish.extend_from_slice(&body);
        prop_assert_eq!(mqtt::parse(&publish[..cut.index(publish.len())]), Parse::Incomplete);
        prop_assert!(matches!(mqtt::parse(&publish), Parse::Done(_, n) if n == publish.len()));

        let mut query = vec![0, 0, 0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in topic.split('/').filter(|l| !l.is_empty()) {
            query.push(label.len() as u8);
            query.extend_from_slice(label.as_bytes());
        }
        query.extend_from_slice(&[0, 0, 1, 0, 1]);
        let len = (query.len() - 2) as u16;
        query[..2].copy_from_slice(&len.to_be_bytes());
        prop_assert_eq!(dns::parse(&query[..cut.index(query.len())]), Parse::Incomplete);
        prop_assert!(matches!(dns::parse(&query), Parse::Done(_, n) if n == query.len()));

        let message = format!("MESSAGE sip:{topic}@pbx SIP/2.0\r\nCall-ID: 1\r\nContent-Length: {}\r\n\r\n", payload.len());
        let mut message = message.into_bytes();
        message.extend_from_slice(&payload);
        prop_assert_eq!(sip::parse(&message[..cut.index(message.len())]), Parse::Incomplete);
        prop_assert!(matches!(sip::parse(&message), Parse::Done(_, n) if n == message.len()));
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
    fn mongodb_messages(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(consumed_at_most(&mongodb::parse(&bytes), bytes.len()));
    }

    #[test]
    fn mongodb_truncation_is_incomplete(collection in "[a-z]{1,12}", cut in any::<prop::sample::Index>()) {
        // An OP_MSG `find` built by hand: header, flag bits, a kind-0 section.
        let mut body = b"\x02find\0".to_vec();
        body.extend_from_slice(&(collection.len() as i32 + 1).to_le_bytes());
        body.extend_from_slice(collection.as_bytes());
        body.push(0);
        let mut doc = ((body.len() + 5) as i32).to_le_bytes().to_vec();
        doc.extend_from_slice(&body);
        doc.push(0);
        let mut msg = ((doc.len() + 21) as i32).to_le_bytes().to_vec();
        msg.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0xdd, 0x07, 0, 0, 0, 0, 0, 0, 0]);
        msg.extend_from_slice(&doc);
        let at = cut.index(msg.len());
        prop_assert_eq!(mongodb::parse(&msg[..at]), Parse::Incomplete);
        prop_assert!(matches!(mongodb::parse(&msg), Parse::Done(_, n) if n == msg.len()));
    }

    #[test]
    fn modbus_frames(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        prop_assert!(consumed_at_most(&conpot::parse(&bytes), bytes.len()));
    }

    #[test]
    fn modbus_truncation_is_incomplete(pdu in proptest::collection::vec(any::<u8>(), 1..253), cut in any::<prop::sample::Index>()) {
        let mut adu = vec![0x12, 0x34, 0, 0];
        adu.extend_from_slice(&(pdu.len() as u16 + 1).to_be_bytes());
        adu.push(1);
        adu.extend_from_slice(&pdu);
        let at = cut.index(adu.len().min(8));
        prop_assert_eq!(conpot::parse(&adu[..at]), Parse::Incomplete);
        let at = cut.index(adu.len());
        prop_assert!(matches!(conpot::parse(&adu[..at]), Parse::Incomplete | Parse::Done(..)));
        prop_assert!(matches!(conpot::parse(&adu), Parse::Done(_, n) if n == adu.len()));
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
