//! The decky's TCP/IP stack shaped like its persona's operating system.
//!
//! Sysctls (set by the runtime on the base) give a Windows decky its TTL, window scale and
//! timestamp behaviour, but not what OS detection weighs most: the order of the SYN-ACK's
//! TCP options, its window, the IP ID sequence, the answers to probes without flags, and
//! the code of ICMP echo replies. The base, which already holds `NET_ADMIN` for its routes,
//! installs a small nf_tables ruleset in its own namespace that rewrites exactly those
//! fields, in the kernel, with no packet ever leaving for user space (so a crashed base
//! never blackholes the decky, and no capability beyond `NET_ADMIN` is needed).
//!
//! The ruleset is written as nf_tables netlink messages directly: the crates that wrap
//! nf_tables either bind the C library (which the static, FROM-scratch image cannot carry)
//! or are GPL. The messages are the ones `nft -f` sends for the same rules (compare with
//! `nft --debug=netlink`), sent as one batch, so the ruleset is installed whole or not at
//! all, and re-installing replaces it.
//!
//! What each rule does, for a Windows persona:
//! - SYN-ACK options in Windows order: Linux sends `MSS,SACK,TS,NOP,WS` (or
//!   `MSS,NOP,NOP,SACK,NOP,WS` without timestamps); Windows sends `MSS,NOP,WS,...` with the
//!   SACK/timestamp block after the window scale. Moving whole 16-bit words keeps the TCP
//!   checksum valid, so those writes need no checksum update.
//! - SYN-ACK window 8192, as Windows advertises (less than Linux offers, so never a
//!   promise the kernel cannot keep).
//! - RSTs without ACK carry a non-zero acknowledgment number, as Windows' do.
//! - ICMP echo replies with code 0 whatever code the request had.
//! - One incrementing IP ID counter shared by every packet the namespace sends.
//! - A Windows host answers a TCP probe with no flags, or with SYN+FIN+PSH+URG, with a
//!   reset; Linux stays silent. The input chain rejects those two probes with a reset.

use std::io;

use decnet_domain::catalogue::OsFamily;
use netlink_sys::{Socket, protocols::NETLINK_NETFILTER};

/// The nf_tables table the base owns in its namespace.
pub const TABLE: &str = "decnet_stack";

/// Why the stack could not be shaped.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The netlink socket could not be opened or used.
    #[error("nf_tables netlink socket: {0}")]
    Socket(#[from] io::Error),
    /// The kernel refused the ruleset (nothing of it was installed).
    #[error("the kernel refused the nf_tables ruleset: {0}")]
    Refused(io::Error),
    /// The kernel did not acknowledge every message of the batch.
    #[error("the kernel acknowledged {acked} of {sent} nf_tables messages")]
    Unacknowledged {
        /// Messages acknowledged.
        acked: usize,
        /// Messages sent.
        sent: usize,
    },
}

/// Shapes this namespace's stack for `family`: installs the rewriting ruleset for the
/// Windows families; any other family needs only its sysctls, so nothing is installed.
/// Returns whether a ruleset was installed.
pub fn shape(family: OsFamily) -> Result<bool, StackError> {
    if !family.is_windows() {
        return Ok(false);
    }
    let batch = windows_batch();
    send(&batch.bytes, batch.messages)?;
    Ok(true)
}

// Netlink and nf_tables constants (linux/netlink.h, linux/netfilter/nfnetlink.h,
// linux/netfilter/nf_tables.h).
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;
const NLMSG_ERROR: u16 = 0x2;
const NLA_F_NESTED: u16 = 0x8000;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFPROTO_IPV4: u8 = 2;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NF_INET_LOCAL_IN: u32 = 1;
const NF_INET_LOCAL_OUT: u32 = 3;
/// The mangle priority: before the filter chains Docker or anyone else may add.
const PRIORITY_MANGLE: i32 = -150;
const NF_ACCEPT: u32 = 1;
/// The one register the rules use (16 bytes wide).
const REG_1: u32 = 1;

/// Where a payload expression reads or writes.
#[derive(Debug, Clone, Copy)]
enum Base {
    Network = 1,
    Transport = 2,
}

/// The nf_tables expressions the ruleset needs; every one works on register 1.
#[derive(Debug, Clone)]
enum Expr {
    /// Loads the layer-4 protocol number (one byte).
    L4Proto,
    /// Loads `len` bytes at `offset` of `base`.
    Load { base: Base, offset: u32, len: u32 },
    /// Continues only if the register equals (or, with `equal: false`, differs from) `data`.
    Cmp { equal: bool, data: Vec<u8> },
    /// Register = register & `mask`.
    And { mask: Vec<u8> },
    /// Register = `data`.
    Immediate { data: Vec<u8> },
    /// Writes `len` bytes of the register at `offset` of `base`, updating the checksum
    /// found at `checksum` (relative to the same header) when given.
    Write { base: Base, offset: u32, len: u32, checksum: Option<u32> },
    /// Register = an incrementing counter modulo `modulus`, as a host-order u32.
    Counter { modulus: u32 },
    /// Converts the register's first u16 from host to network order.
    Hton16,
    /// Answers the packet with a TCP reset (and drops it).
    RejectWithReset,
}

impl Expr {
    fn encode(&self, out: &mut Vec<u8>) {
        let name = match self {
            Expr::L4Proto => "meta",
            Expr::Load { .. } | Expr::Write { .. } => "payload",
            Expr::Cmp { .. } => "cmp",
            Expr::And { .. } => "bitwise",
            Expr::Immediate { .. } => "immediate",
            Expr::Counter { .. } => "numgen",
            Expr::Hton16 => "byteorder",
            Expr::RejectWithReset => "reject",
        };
        nested(out, 1 /* NFTA_LIST_ELEM */, |out| {
            attr_str(out, 1 /* NFTA_EXPR_NAME */, name);
            nested(out, 2 /* NFTA_EXPR_DATA */, |out| self.encode_data(out));
        });
    }

    fn encode_data(&self, out: &mut Vec<u8>) {
        match self {
            Expr::L4Proto => {
                attr_u32(out, 1 /* NFTA_META_DREG */, REG_1);
                attr_u32(out, 2 /* NFTA_META_KEY */, 16 /* NFT_META_L4PROTO */);
            }
            Expr::Load { base, offset, len } => {
                attr_u32(out, 1 /* NFTA_PAYLOAD_DREG */, REG_1);
                attr_u32(out, 2 /* NFTA_PAYLOAD_BASE */, *base as u32);
                attr_u32(out, 3 /* NFTA_PAYLOAD_OFFSET */, *offset);
                attr_u32(out, 4 /* NFTA_PAYLOAD_LEN */, *len);
            }
            Expr::Write { base, offset, len, checksum } => {
                attr_u32(out, 5 /* NFTA_PAYLOAD_SREG */, REG_1);
                attr_u32(out, 2 /* NFTA_PAYLOAD_BASE */, *base as u32);
                attr_u32(out, 3 /* NFTA_PAYLOAD_OFFSET */, *offset);
                attr_u32(out, 4 /* NFTA_PAYLOAD_LEN */, *len);
                let (kind, at) = checksum.map_or((0, 0), |at| (1 /* NFT_PAYLOAD_CSUM_INET */, at));
                attr_u32(out, 6 /* NFTA_PAYLOAD_CSUM_TYPE */, kind);
                attr_u32(out, 7 /* NFTA_PAYLOAD_CSUM_OFFSET */, at);
            }
            Expr::Cmp { equal, data } => {
                attr_u32(out, 1 /* NFTA_CMP_SREG */, REG_1);
                attr_u32(out, 2 /* NFTA_CMP_OP */, if *equal { 0 } else { 1 });
                data_value(out, 3 /* NFTA_CMP_DATA */, data);
            }
            Expr::And { mask } => {
                attr_u32(out, 1 /* NFTA_BITWISE_SREG */, REG_1);
                attr_u32(out, 2 /* NFTA_BITWISE_DREG */, REG_1);
                attr_u32(out, 3 /* NFTA_BITWISE_LEN */, mask.len() as u32);
                data_value(out, 4 /* NFTA_BITWISE_MASK */, mask);
                data_value(out, 5 /* NFTA_BITWISE_XOR */, &vec![0; mask.len()]);
            }
            Expr::Immediate { data } => {
                attr_u32(out, 1 /* NFTA_IMMEDIATE_DREG */, REG_1);
                data_value(out, 2 /* NFTA_IMMEDIATE_DATA */, data);
            }
            Expr::Counter { modulus } => {
                attr_u32(out, 1 /* NFTA_NG_DREG */, REG_1);
                attr_u32(out, 2 /* NFTA_NG_MODULUS */, *modulus);
                attr_u32(out, 3 /* NFTA_NG_TYPE */, 0 /* NFT_NG_INCREMENTAL */);
            }
            Expr::Hton16 => {
                attr_u32(out, 1 /* NFTA_BYTEORDER_SREG */, REG_1);
                attr_u32(out, 2 /* NFTA_BYTEORDER_DREG */, REG_1);
                attr_u32(out, 3 /* NFTA_BYTEORDER_OP */, 1 /* NFT_BYTEORDER_HTON */);
                attr_u32(out, 4 /* NFTA_BYTEORDER_LEN */, 2);
                attr_u32(out, 5 /* NFTA_BYTEORDER_SIZE */, 2);
            }
            Expr::RejectWithReset => {
                attr_u32(out, 1 /* NFTA_REJECT_TYPE */, 1 /* NFT_REJECT_TCP_RST */);
                attr(out, 2 /* NFTA_REJECT_ICMP_CODE */, &[0]);
            }
        }
    }
}

/// The TCP flags byte masked with `mask` equals `value` (also checks the packet is TCP).
fn tcp_flags(mask: u8, value: u8) -> Vec<Expr> {
    vec![
        Expr::L4Proto,
        Expr::Cmp { equal: true, data: vec![6] },
        Expr::Load { base: Base::Transport, offset: 13, len: 1 },
        Expr::And { mask: vec![mask] },
        Expr::Cmp { equal: true, data: vec![value] },
    ]
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const RST: u8 = 0x04;
/// FIN, SYN, RST, PSH, ACK and URG.
const ALL_FLAGS: u8 = 0x3f;
/// nmap's T3 probe: SYN, FIN, PSH and URG.
const SYN_FIN_PSH_URG: u8 = 0x2b;
/// NOP, then window scale 8: where Windows puts it, right after the MSS.
const NOP_WSCALE_8: [u8; 4] = [0x01, 0x03, 0x03, 0x08];

/// The TCP header is `words` 32-bit words long (its data offset).
fn data_offset(words: u8) -> Vec<Expr> {
    vec![
        Expr::Load { base: Base::Transport, offset: 12, len: 1 },
        Expr::And { mask: vec![0xf0] },
        Expr::Cmp { equal: true, data: vec![words << 4] },
    ]
}

/// Moves the `len` bytes after the MSS option (offset 24) behind the window scale that
/// Linux puts last, and puts the window scale right after the MSS.
fn wscale_first(header_words: u8, len: u32) -> Vec<Expr> {
    let wscale_at = 24 + len;
    let mut rule = tcp_flags(SYN | ACK, SYN | ACK);
    rule.extend(data_offset(header_words));
    rule.extend([
        Expr::Load { base: Base::Transport, offset: wscale_at, len: 4 },
        Expr::Cmp { equal: true, data: NOP_WSCALE_8.to_vec() },
        Expr::Load { base: Base::Transport, offset: 24, len: 4 },
        Expr::Cmp { equal: false, data: NOP_WSCALE_8.to_vec() },
        Expr::Load { base: Base::Transport, offset: 24, len },
        Expr::Write { base: Base::Transport, offset: 28, len, checksum: None },
        Expr::Immediate { data: NOP_WSCALE_8.to_vec() },
        Expr::Write { base: Base::Transport, offset: 24, len: 4, checksum: None },
    ]);
    rule
}

/// A chain of the table: its name and hook.
#[derive(Debug, Clone, Copy)]
struct Chain {
    name: &'static str,
    hook: u32,
}

const OUTPUT: Chain = Chain { name: "out", hook: NF_INET_LOCAL_OUT };
const INPUT: Chain = Chain { name: "in", hook: NF_INET_LOCAL_IN };

/// The rules of a Windows persona, in order, with the chain each belongs to.
fn windows_rules() -> Vec<(Chain, Vec<Expr>)> {
    let mut rules = vec![
        // SACK + timestamps (or NOP,NOP + timestamps) before the window scale: 12 bytes.
        (OUTPUT, wscale_first(10, 12)),
        // NOP,NOP,SACK before the window scale (no timestamps): 4 bytes.
        (OUTPUT, wscale_first(8, 4)),
    ];
    let mut window = tcp_flags(SYN | ACK, SYN | ACK);
    window.extend([
        Expr::Immediate { data: 8192u16.to_be_bytes().to_vec() },
        Expr::Write { base: Base::Transport, offset: 14, len: 2, checksum: Some(16) },
    ]);
    rules.push((OUTPUT, window));
    let mut reset_ack = tcp_flags(RST | ACK, RST);
    reset_ack.extend([
        Expr::Immediate { data: 1u32.to_be_bytes().to_vec() },
        Expr::Write { base: Base::Transport, offset: 8, len: 4, checksum: Some(16) },
    ]);
    rules.push((OUTPUT, reset_ack));
    // Echo reply (type 0) with code 0; written as the whole type+code word so the
    // checksum update stays 16-bit aligned.
    rules.push((
        OUTPUT,
        vec![
            Expr::L4Proto,
            Expr::Cmp { equal: true, data: vec![1] },
            Expr::Load { base: Base::Transport, offset: 0, len: 1 },
            Expr::Cmp { equal: true, data: vec![0] },
            Expr::Load { base: Base::Transport, offset: 0, len: 2 },
            Expr::And { mask: vec![0xff, 0x00] },
            Expr::Write { base: Base::Transport, offset: 0, len: 2, checksum: Some(2) },
        ],
    ));
    rules.push((
        OUTPUT,
        vec![
            Expr::Counter { modulus: 1 << 16 },
            Expr::Hton16,
            Expr::Write { base: Base::Network, offset: 4, len: 2, checksum: Some(10) },
        ],
    ));
    for probe in [0, SYN_FIN_PSH_URG] {
        let mut reset = tcp_flags(ALL_FLAGS, probe);
        reset.push(Expr::RejectWithReset);
        rules.push((INPUT, reset));
    }
    rules
}

/// A batch of netlink messages and how many of them the kernel must acknowledge.
struct Batch {
    bytes: Vec<u8>,
    messages: usize,
}

/// The whole Windows batch: the table (re)created empty, its two chains, its rules.
fn windows_batch() -> Batch {
    let mut batch = Batch { bytes: Vec::new(), messages: 0 };
    message(&mut batch.bytes, NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 0, 0, |_| {});
    let mut seq = 1;
    let mut add = |batch: &mut Batch, kind: u16, flags: u16, body: &dyn Fn(&mut Vec<u8>)| {
        let kind = (NFNL_SUBSYS_NFTABLES << 8) | kind;
        message(&mut batch.bytes, kind, NLM_F_REQUEST | NLM_F_ACK | flags, seq, NFPROTO_IPV4, body);
        batch.messages += 1;
        seq += 1;
    };
    let table = |out: &mut Vec<u8>| attr_str(out, 1 /* NFTA_TABLE_NAME */, TABLE);
    // Create, delete and create again: replaces a ruleset left by an earlier base, and
    // deleting a table that does not exist would abort the batch.
    add(&mut batch, NFT_MSG_NEWTABLE, NLM_F_CREATE, &table);
    add(&mut batch, NFT_MSG_DELTABLE, 0, &table);
    add(&mut batch, NFT_MSG_NEWTABLE, NLM_F_CREATE, &table);
    for chain in [OUTPUT, INPUT] {
        add(&mut batch, NFT_MSG_NEWCHAIN, NLM_F_CREATE, &|out: &mut Vec<u8>| {
            attr_str(out, 1 /* NFTA_CHAIN_TABLE */, TABLE);
            attr_str(out, 3 /* NFTA_CHAIN_NAME */, chain.name);
            nested(out, 4 /* NFTA_CHAIN_HOOK */, |out| {
                attr_u32(out, 1 /* NFTA_HOOK_HOOKNUM */, chain.hook);
                attr(out, 2 /* NFTA_HOOK_PRIORITY */, &PRIORITY_MANGLE.to_be_bytes());
            });
            attr_u32(out, 5 /* NFTA_CHAIN_POLICY */, NF_ACCEPT);
            attr_str(out, 7 /* NFTA_CHAIN_TYPE */, "filter");
        });
    }
    for (chain, exprs) in windows_rules() {
        add(&mut batch, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, &|out: &mut Vec<u8>| {
            attr_str(out, 1 /* NFTA_RULE_TABLE */, TABLE);
            attr_str(out, 2 /* NFTA_RULE_CHAIN */, chain.name);
            nested(out, 4 /* NFTA_RULE_EXPRESSIONS */, |out| {
                for expr in &exprs {
                    expr.encode(out);
                }
            });
        });
    }
    message(&mut batch.bytes, NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq, 0, |_| {});
    batch
}

/// Appends one netlink message: header, nfgenmsg, then what `body` writes.
fn message(out: &mut Vec<u8>, kind: u16, flags: u16, seq: u32, family: u8, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&0u32.to_ne_bytes()); // length, patched below
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
    // nfgenmsg: family, version 0, and the subsystem as resource id (read on batch begin).
    out.push(family);
    out.push(0);
    out.extend_from_slice(&NFNL_SUBSYS_NFTABLES.to_be_bytes());
    body(out);
    let len = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&len.to_ne_bytes());
}

/// Appends one attribute, padded to four bytes.
fn attr(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + (4 - len % 4) % 4, 0);
}

/// A big-endian u32 attribute, as nf_tables wants them.
fn attr_u32(out: &mut Vec<u8>, kind: u16, value: u32) {
    attr(out, kind, &value.to_be_bytes());
}

/// A NUL-terminated string attribute.
fn attr_str(out: &mut Vec<u8>, kind: u16, value: &str) {
    let mut bytes = value.as_bytes().to_vec();
    bytes.push(0);
    attr(out, kind, &bytes);
}

/// A nested attribute holding what `body` writes.
fn nested(out: &mut Vec<u8>, kind: u16, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    body(out);
    let len = (out.len() - start) as u16;
    out[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    out[start + 2..start + 4].copy_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
}

/// An nft_data value: a nested attribute holding NFTA_DATA_VALUE.
fn data_value(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    nested(out, kind, |out| attr(out, 1 /* NFTA_DATA_VALUE */, value));
}

/// Sends the batch and reads the kernel's answers: one acknowledgment per message, or
/// the error that aborted the whole batch. nfnetlink handles a batch within the send, so
/// every answer is queued when the send returns and the socket is read without waiting.
fn send(bytes: &[u8], messages: usize) -> Result<(), StackError> {
    let mut socket = Socket::new(NETLINK_NETFILTER)?;
    socket.bind_auto()?;
    socket.send(bytes, 0)?;
    socket.set_non_blocking(true)?;
    let mut acked = 0;
    let mut buf = vec![0u8; 1 << 16];
    while acked < messages {
        let n = match socket.recv(&mut &mut buf[..], 0) {
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) => return Err(err.into()),
        };
        let mut at = 0;
        while at + 20 <= n {
            let len = u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]) as usize;
            let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
            if kind == NLMSG_ERROR {
                let code = i32::from_ne_bytes([buf[at + 16], buf[at + 17], buf[at + 18], buf[at + 19]]);
                if code != 0 {
                    return Err(StackError::Refused(io::Error::from_raw_os_error(-code)));
                }
                acked += 1;
            }
            if len < 16 {
                break;
            }
            at += (len + 3) & !3;
        }
    }
    if acked < messages {
        return Err(StackError::Unacknowledged { acked, sent: messages });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks the attributes of `bytes`, checking every length stays inside its parent.
    fn check_attrs(bytes: &[u8]) {
        let mut at = 0;
        while at < bytes.len() {
            let len = u16::from_ne_bytes([bytes[at], bytes[at + 1]]) as usize;
            let kind = u16::from_ne_bytes([bytes[at + 2], bytes[at + 3]]);
            assert!(len >= 4 && at + len <= bytes.len(), "attribute overruns its parent");
            if kind & NLA_F_NESTED != 0 {
                check_attrs(&bytes[at + 4..at + len]);
            }
            at += (len + 3) & !3;
        }
    }

    #[test]
    fn the_windows_batch_is_well_formed_netlink() {
        let batch = windows_batch();
        // Table created, deleted, created; two chains; eight rules.
        assert_eq!(batch.messages, 3 + 2 + 8);
        let mut at = 0;
        let mut kinds = Vec::new();
        while at < batch.bytes.len() {
            let len = u32::from_ne_bytes(batch.bytes[at..at + 4].try_into().unwrap()) as usize;
            kinds.push(u16::from_ne_bytes([batch.bytes[at + 4], batch.bytes[at + 5]]));
            assert_eq!(len % 4, 0, "messages stay aligned");
            check_attrs(&batch.bytes[at + 20..at + len]);
            at += len;
        }
        assert_eq!(at, batch.bytes.len());
        assert_eq!(kinds.first(), Some(&NFNL_MSG_BATCH_BEGIN));
        assert_eq!(kinds.last(), Some(&NFNL_MSG_BATCH_END));
        assert_eq!(kinds.len(), batch.messages + 2);
    }

    #[test]
    fn only_windows_families_get_a_ruleset() {
        for family in OsFamily::ALL {
            if !family.is_windows() {
                assert!(!shape(family).unwrap(), "{family:?} needs no ruleset");
            }
        }
    }

    #[test]
    fn option_moves_keep_whole_16_bit_words() {
        // Moving 16-bit-aligned words leaves the TCP checksum valid; these writes
        // update no checksum, so each must stay aligned.
        for (_, rule) in windows_rules() {
            for expr in rule {
                if let Expr::Write { offset, len, checksum: None, .. } = expr {
                    assert_eq!((offset % 2, len % 2), (0, 0));
                }
            }
        }
    }
}
