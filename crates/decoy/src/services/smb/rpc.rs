//! DCE/RPC over the `srvsvc` named pipe, as far as share listing needs it: BIND answered
//! with a BIND_ACK that accepts NDR (and acknowledges bind-time feature negotiation),
//! `NetrShareEnum` (opnum 15) answered with the shares, any other call with a fault.

use super::wire::{Read, Write, utf16};

/// The srvsvc interface's UUID (4b324fc8-1670-01d3-1278-5a47bf6ee188) on the wire.
const SRVSVC: [u8; 16] =
    [0xc8, 0x4f, 0x32, 0x4b, 0x70, 0x16, 0xd3, 0x01, 0x12, 0x78, 0x5a, 0x47, 0xbf, 0x6e, 0xe1, 0x88];
/// NDR transfer syntax (8a885d04-1ceb-11c9-9fe8-08002b104860), version 2.
const NDR: [u8; 16] = [0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60];
/// Bind-time feature negotiation syntaxes start with this (6cb71c2c-9812-4540-...).
const FEATURE_NEGOTIATION: [u8; 8] = [0x2c, 0x1c, 0xb7, 0x6c, 0x12, 0x98, 0x40, 0x45];

/// PDU types.
const REQUEST: u8 = 0;
const RESPONSE: u8 = 2;
const FAULT: u8 = 3;
const BIND: u8 = 11;
const BIND_ACK: u8 = 12;

/// A share as `NetrShareEnum` level 1 lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareInfo {
    /// Its name.
    pub name: String,
    /// STYPE_DISKTREE (0), STYPE_IPC | STYPE_SPECIAL (0x80000003), ...
    pub kind: u32,
    /// Its remark.
    pub remark: String,
}

/// What a PDU asked, for the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// A BIND to an interface (its UUID).
    Bind(String),
    /// A request with this opnum.
    Request(u16),
}

/// The answer to one PDU written to the pipe, and what it asked; `None` if the bytes are
/// not a DCE/RPC PDU.
pub fn answer(pdu: &[u8], shares: &[ShareInfo]) -> Option<(Vec<u8>, Call)> {
    if pdu.u8_at(0)? != 5 || pdu.u8_at(1)? != 0 {
        return None;
    }
    let ptype = pdu.u8_at(2)?;
    let call_id = pdu.u32_at(12)?;
    match ptype {
        BIND => {
            let assoc = 0x0001_2f5a_u32;
            let mut body = Vec::new();
            body.u16(4280).u16(4280).u32(assoc);
            let port = b"\\PIPE\\srvsvc\0";
            body.u16(port.len() as u16);
            body.extend_from_slice(port);
            body.pad(4);
            let contexts = usize::from(pdu.u8_at(24)?).min(16);
            body.push(contexts as u8);
            body.extend_from_slice(&[0, 0, 0]);
            let mut at = 28;
            let mut interface = String::new();
            for _ in 0..contexts {
                let transfers = usize::from(pdu.u8_at(at + 2)?);
                let abstract_syntax = pdu.bytes_at(at + 4, 16)?;
                if interface.is_empty() {
                    interface = super::wire::guid(abstract_syntax);
                }
                let first = pdu.bytes_at(at + 24, 20)?;
                if first.starts_with(&FEATURE_NEGOTIATION) {
                    // negotiate_ack: no features (reason carries the bitmask, 0).
                    body.u16(3).u16(0);
                    body.extend_from_slice(&[0; 20]);
                } else if abstract_syntax == SRVSVC && first.get(..16) == Some(&NDR[..]) {
                    body.u16(0).u16(0);
                    body.extend_from_slice(first);
                } else {
                    // provider rejection: proposed transfer syntaxes not supported.
                    body.u16(2).u16(2);
                    body.extend_from_slice(&[0; 20]);
                }
                at += 24 + 20 * transfers;
            }
            Some((pdu_with(BIND_ACK, call_id, &body), Call::Bind(interface)))
        }
        REQUEST => {
            let opnum = pdu.u16_at(22)?;
            let context = pdu.u16_at(20)?;
            let stub = if opnum == 15 { Some(share_enum(shares)) } else { None };
            let answer = match stub {
                Some(stub) => {
                    let mut body = Vec::new();
                    body.u32(stub.len() as u32).u16(context).push(0);
                    body.push(0);
                    body.extend_from_slice(&stub);
                    pdu_with(RESPONSE, call_id, &body)
                }
                None => {
                    // nca_s_op_rng_error: the operation is not served.
                    let mut body = Vec::new();
                    body.u32(0).u16(context).push(0);
                    body.push(0);
                    body.u32(0x1c01_0002).u32(0);
                    pdu_with(FAULT, call_id, &body)
                }
            };
            Some((answer, Call::Request(opnum)))
        }
        _ => None,
    }
}

/// A PDU of `ptype` with `body`.
fn pdu_with(ptype: u8, call_id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = vec![5, 0, ptype, 0x03, 0x10, 0, 0, 0];
    out.u16((16 + body.len()) as u16).u16(0).u32(call_id);
    out.extend_from_slice(body);
    out
}

/// An NDR conformant varying string (with its NUL), aligned to 4.
fn ndr_string(out: &mut Vec<u8>, text: &str) {
    out.pad(4);
    let units = text.encode_utf16().count() as u32 + 1;
    out.u32(units).u32(0).u32(units);
    out.extend_from_slice(&utf16(text));
    out.u16(0);
}

/// The stub of NetrShareEnum's answer at level 1.
fn share_enum(shares: &[ShareInfo]) -> Vec<u8> {
    let mut out = Vec::new();
    let count = shares.len() as u32;
    // InfoStruct: level 1, union switch 1, pointer to the container.
    out.u32(1).u32(1).u32(0x0002_0000);
    // SHARE_INFO_1_CONTAINER: EntriesRead, pointer to the array.
    out.u32(count).u32(0x0002_0004);
    // The conformant array of SHARE_INFO_1, then the strings they point to.
    out.u32(count);
    let mut referent = 0x0002_0008u32;
    for share in shares {
        out.u32(referent).u32(share.kind).u32(referent + 4);
        referent += 8;
    }
    for share in shares {
        ndr_string(&mut out, &share.name);
        ndr_string(&mut out, &share.remark);
    }
    out.pad(4);
    // TotalEntries, ResumeHandle (a pointer to 0), WERROR_OK.
    out.u32(count).u32(referent).u32(0).u32(0);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn bind() -> Vec<u8> {
        let mut body = Vec::new();
        body.u16(4280).u16(4280).u32(0);
        body.push(1);
        body.extend_from_slice(&[0, 0, 0]);
        body.u16(0).push(1);
        body.push(0);
        body.extend_from_slice(&SRVSVC);
        body.u32(3);
        body.extend_from_slice(&NDR);
        body.u32(2);
        let mut pdu = vec![5, 0, BIND, 3, 0x10, 0, 0, 0];
        pdu.u16(16 + body.len() as u16).u16(0).u32(7);
        pdu.extend_from_slice(&body);
        pdu
    }

    #[test]
    fn a_bind_to_srvsvc_is_accepted_with_ndr() {
        let (ack, call) = answer(&bind(), &[]).unwrap();
        assert_eq!(call, Call::Bind("4b324fc8-1670-01d3-1278-5a47bf6ee188".into()));
        assert_eq!(ack[2], BIND_ACK);
        assert_eq!(usize::from(ack.u16_at(8).unwrap()), ack.len());
        assert_eq!(ack.u32_at(12), Some(7), "the call id is echoed");
        assert!(ack.windows(16).any(|w| w == NDR), "NDR accepted");
    }

    #[test]
    fn share_enumeration_lists_every_share() {
        let mut pdu = vec![5, 0, REQUEST, 3, 0x10, 0, 0, 0];
        pdu.u16(24).u16(0).u32(9).u32(0).u16(0).u16(15);
        let shares = [
            ShareInfo { name: "IPC$".into(), kind: 0x8000_0003, remark: "Remote IPC".into() },
            ShareInfo { name: "Finance".into(), kind: 0, remark: String::new() },
        ];
        let (response, call) = answer(&pdu, &shares).unwrap();
        assert_eq!(call, Call::Request(15));
        assert_eq!(response[2], RESPONSE);
        let text = String::from_utf16_lossy(
            &response.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect::<Vec<_>>(),
        );
        assert!(text.contains("Remote IPC") && text.contains("Finance"), "{text}");
        assert_eq!(response.len() % 4, 0);
    }

    #[test]
    fn garbage_and_truncated_pdus_are_refused_without_panic() {
        let pdu = bind();
        for cut in 0..pdu.len() {
            let _ = answer(&pdu[..cut], &[]);
        }
        assert_eq!(answer(b"GET / HTTP/1.1", &[]), None);
    }
}
