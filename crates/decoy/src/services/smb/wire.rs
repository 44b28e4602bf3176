//! SMB's wire format as far as the decoy speaks it: the NetBIOS session framing, the SMB1
//! NEGOTIATE a client may open with, and the SMB2 header and the little-endian reads and
//! writes of every command body. Every read is bounds-checked (`None` past the end).

use crate::server::Parse;

/// NetBIOS session message (the only type that carries SMB).
pub const NBT_MESSAGE: u8 = 0x00;
/// NetBIOS SESSION REQUEST (port 139).
pub const NBT_SESSION_REQUEST: u8 = 0x81;
/// NetBIOS keep-alive.
pub const NBT_KEEPALIVE: u8 = 0x85;

/// One NetBIOS session frame: its type and payload.
pub fn frame(buf: &[u8]) -> Parse<(u8, Vec<u8>)> {
    let Some(head) = buf.get(..4) else { return Parse::Incomplete };
    let kind = head[0];
    if !matches!(kind, NBT_MESSAGE | NBT_SESSION_REQUEST | NBT_KEEPALIVE) {
        return Parse::Invalid(format!("NetBIOS frame of type 0x{kind:02x}"));
    }
    let len = (usize::from(head[1] & 0x01) << 16) | (usize::from(head[2]) << 8) | usize::from(head[3]);
    match buf.get(4..4 + len) {
        Some(payload) => Parse::Done((kind, payload.to_vec()), 4 + len),
        None => Parse::Incomplete,
    }
}

/// `payload` framed as a NetBIOS session message.
pub fn nbt(kind: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len().min(0x1_ffff);
    let mut out = vec![kind, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    out.extend_from_slice(&payload[..len]);
    out
}

/// Bounds-checked little-endian reads.
pub trait Read {
    /// The byte at `at`.
    fn u8_at(&self, at: usize) -> Option<u8>;
    /// The u16 at `at`.
    fn u16_at(&self, at: usize) -> Option<u16>;
    /// The u32 at `at`.
    fn u32_at(&self, at: usize) -> Option<u32>;
    /// The u64 at `at`.
    fn u64_at(&self, at: usize) -> Option<u64>;
    /// `len` bytes at `at`.
    fn bytes_at(&self, at: usize, len: usize) -> Option<&[u8]>;
}

impl Read for [u8] {
    fn u8_at(&self, at: usize) -> Option<u8> {
        self.get(at).copied()
    }
    fn u16_at(&self, at: usize) -> Option<u16> {
        Some(u16::from_le_bytes(self.get(at..at.checked_add(2)?)?.try_into().ok()?))
    }
    fn u32_at(&self, at: usize) -> Option<u32> {
        Some(u32::from_le_bytes(self.get(at..at.checked_add(4)?)?.try_into().ok()?))
    }
    fn u64_at(&self, at: usize) -> Option<u64> {
        Some(u64::from_le_bytes(self.get(at..at.checked_add(8)?)?.try_into().ok()?))
    }
    fn bytes_at(&self, at: usize, len: usize) -> Option<&[u8]> {
        self.get(at..at.checked_add(len)?)
    }
}

/// Little-endian writes.
pub trait Write {
    /// Appends a u16.
    fn u16(&mut self, value: u16) -> &mut Self;
    /// Appends a u32.
    fn u32(&mut self, value: u32) -> &mut Self;
    /// Appends a u64.
    fn u64(&mut self, value: u64) -> &mut Self;
    /// Appends zeros up to a multiple of `align`.
    fn pad(&mut self, align: usize) -> &mut Self;
}

impl Write for Vec<u8> {
    fn u16(&mut self, value: u16) -> &mut Self {
        self.extend_from_slice(&value.to_le_bytes());
        self
    }
    fn u32(&mut self, value: u32) -> &mut Self {
        self.extend_from_slice(&value.to_le_bytes());
        self
    }
    fn u64(&mut self, value: u64) -> &mut Self {
        self.extend_from_slice(&value.to_le_bytes());
        self
    }
    fn pad(&mut self, align: usize) -> &mut Self {
        while !self.len().is_multiple_of(align) {
            self.push(0);
        }
        self
    }
}

/// UTF-16LE of `text`.
pub fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// Text from UTF-16LE bytes (unpaired surrogates replaced).
pub fn from_utf16(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    String::from_utf16_lossy(&units)
}

/// The dialect strings of an SMB1 NEGOTIATE request (`None` if it is not one).
pub fn smb1_dialects(message: &[u8]) -> Option<Vec<String>> {
    if message.get(..4)? != b"\xffSMB" || message.u8_at(4)? != 0x72 {
        return None;
    }
    let words = usize::from(message.u8_at(32)?);
    let at = 33 + words * 2;
    let count = usize::from(message.u16_at(at)?);
    let bytes = message.get(at + 2..)?.get(..count)?;
    Some(
        bytes
            .split(|&b| b == 0)
            .filter_map(|d| d.strip_prefix(&[0x02]))
            .take(32)
            .map(|d| String::from_utf8_lossy(d).into_owned())
            .collect(),
    )
}

/// Size of the SMB2 header.
pub const HEADER: usize = 64;

/// SMB2 commands.
pub mod command {
    pub const NEGOTIATE: u16 = 0x00;
    pub const SESSION_SETUP: u16 = 0x01;
    pub const LOGOFF: u16 = 0x02;
    pub const TREE_CONNECT: u16 = 0x03;
    pub const TREE_DISCONNECT: u16 = 0x04;
    pub const CREATE: u16 = 0x05;
    pub const CLOSE: u16 = 0x06;
    pub const FLUSH: u16 = 0x07;
    pub const READ: u16 = 0x08;
    pub const WRITE: u16 = 0x09;
    pub const LOCK: u16 = 0x0a;
    pub const IOCTL: u16 = 0x0b;
    pub const CANCEL: u16 = 0x0c;
    pub const ECHO: u16 = 0x0d;
    pub const QUERY_DIRECTORY: u16 = 0x0e;
    pub const QUERY_INFO: u16 = 0x10;
    pub const SET_INFO: u16 = 0x11;
}

/// NTSTATUS codes the decoy answers with.
pub mod status {
    pub const SUCCESS: u32 = 0x0000_0000;
    pub const NO_MORE_FILES: u32 = 0x8000_0006;
    pub const BUFFER_OVERFLOW: u32 = 0x8000_0005;
    pub const MORE_PROCESSING_REQUIRED: u32 = 0xc000_0016;
    pub const INVALID_PARAMETER: u32 = 0xc000_000d;
    pub const NO_SUCH_FILE: u32 = 0xc000_000f;
    pub const END_OF_FILE: u32 = 0xc000_0011;
    pub const ACCESS_DENIED: u32 = 0xc000_0022;
    pub const OBJECT_NAME_NOT_FOUND: u32 = 0xc000_0034;
    pub const OBJECT_PATH_NOT_FOUND: u32 = 0xc000_003a;
    pub const LOGON_FAILURE: u32 = 0xc000_006d;
    pub const INVALID_INFO_CLASS: u32 = 0xc000_0003;
    pub const INFO_LENGTH_MISMATCH: u32 = 0xc000_0004;
    pub const NOT_SUPPORTED: u32 = 0xc000_00bb;
    pub const BAD_NETWORK_NAME: u32 = 0xc000_00cc;
    pub const NOT_A_DIRECTORY: u32 = 0xc000_0103;
    pub const FILE_IS_A_DIRECTORY: u32 = 0xc000_00ba;
    pub const FILE_CLOSED: u32 = 0xc000_0128;
    pub const USER_SESSION_DELETED: u32 = 0xc000_0203;
    pub const NETWORK_NAME_DELETED: u32 = 0xc000_00c9;
    pub const FS_DRIVER_REQUIRED: u32 = 0xc000_019c;
    pub const INVALID_DEVICE_REQUEST: u32 = 0xc000_0010;
    pub const INSUFFICIENT_RESOURCES: u32 = 0xc000_009a;
}

/// Header flags.
pub const FLAG_SERVER_TO_REDIR: u32 = 0x0000_0001;
/// A compound's member that works on the previous member's session, tree and file.
pub const FLAG_RELATED: u32 = 0x0000_0004;

/// The fields of an SMB2 request header the decoy uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// CreditCharge.
    pub credit_charge: u16,
    /// The command.
    pub command: u16,
    /// Credits asked for.
    pub credits: u16,
    /// Flags.
    pub flags: u32,
    /// Offset of the next compounded request (0 for the last).
    pub next: u32,
    /// MessageId.
    pub message_id: u64,
    /// TreeId.
    pub tree_id: u32,
    /// SessionId.
    pub session_id: u64,
}

impl Header {
    /// The header at the start of `message`, if it is an SMB2 header.
    pub fn parse(message: &[u8]) -> Option<Self> {
        if message.get(..4)? != b"\xfeSMB" || message.u16_at(4)? != 64 {
            return None;
        }
        Some(Self {
            credit_charge: message.u16_at(6)?,
            command: message.u16_at(12)?,
            credits: message.u16_at(14)?,
            flags: message.u32_at(16)?,
            next: message.u32_at(20)?,
            message_id: message.u64_at(24)?,
            tree_id: message.u32_at(36)?,
            session_id: message.u64_at(40)?,
        })
    }

    /// The response header to this request with `status`, granting `credits`.
    pub fn response(&self, status: u32, credits: u16, session_id: u64, tree_id: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + 64);
        out.extend_from_slice(b"\xfeSMB");
        out.u16(64).u16(self.credit_charge).u32(status).u16(self.command).u16(credits);
        out.u32(FLAG_SERVER_TO_REDIR | (self.flags & FLAG_RELATED)).u32(0).u64(self.message_id);
        // Reserved (process id 0xfeff for synchronous answers, as Windows sends), tree, session.
        out.u32(0x0000_feff).u32(tree_id).u64(session_id);
        out.extend_from_slice(&[0; 16]);
        out
    }
}

/// A GUID in its usual text form from its 16 wire bytes.
pub fn guid(bytes: &[u8]) -> String {
    let Some(b) = bytes.get(..16) else { return String::new() };
    format!(
        "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{}",
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_le_bytes([b[4], b[5]]),
        u16::from_le_bytes([b[6], b[7]]),
        b[8],
        b[9],
        b[10..16].iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

/// A dialect's name (`3.1.1`).
pub fn dialect_name(dialect: u16) -> String {
    match dialect {
        0x0202 => "2.0.2".into(),
        0x0210 => "2.1".into(),
        0x0300 => "3.0".into(),
        0x0302 => "3.0.2".into(),
        0x0311 => "3.1.1".into(),
        0x02ff => "2.???".into(),
        other => format!("0x{other:04x}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn netbios_frames_are_cut_at_their_length() {
        assert_eq!(frame(b"\0\0\0"), Parse::Incomplete);
        assert_eq!(frame(b"\0\0\0\x02ab"), Parse::Done((0, b"ab".to_vec()), 6));
        assert_eq!(frame(b"\0\0\0\x03ab"), Parse::Incomplete);
        assert!(matches!(frame(b"\x42\0\0\0"), Parse::Invalid(_)));
        assert_eq!(nbt(0, b"xyz"), b"\0\0\0\x03xyz");
    }

    #[test]
    fn smb1_negotiate_dialects_are_read() {
        let mut msg = b"\xffSMB\x72".to_vec();
        msg.resize(32, 0);
        msg.push(0);
        let dialects = b"\x02NT LM 0.12\0\x02SMB 2.002\0\x02SMB 2.???\0";
        msg.extend_from_slice(&(dialects.len() as u16).to_le_bytes());
        msg.extend_from_slice(dialects);
        assert_eq!(smb1_dialects(&msg).unwrap(), vec!["NT LM 0.12", "SMB 2.002", "SMB 2.???"]);
        assert_eq!(smb1_dialects(&msg[..40]), None);
    }

    #[test]
    fn reads_past_the_end_are_none() {
        let bytes = [1u8, 2, 3];
        assert_eq!(bytes.u16_at(1), Some(0x0302));
        assert_eq!(bytes.u16_at(2), None);
        assert_eq!(bytes.u64_at(usize::MAX), None);
        assert_eq!(bytes.bytes_at(usize::MAX, 2), None);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_frame_or_wait_or_refuse(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            if let Parse::Done((_, payload), used) = frame(&bytes) {
                proptest::prop_assert!(used <= bytes.len() && payload.len() + 4 == used);
            }
            let _ = smb1_dialects(&bytes);
            let _ = Header::parse(&bytes);
        }

        #[test]
        fn any_ntlm_token_or_rpc_pdu_is_read_without_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let mut token = b"NTLMSSP\0\x03\0\0\0".to_vec();
            token.extend_from_slice(&bytes);
            let _ = crate::ntlm::parse(&token);
            let mut pdu = vec![5, 0, bytes.first().copied().unwrap_or(0) % 12];
            pdu.extend_from_slice(&bytes);
            let _ = super::super::rpc::answer(&pdu, &[]);
        }
    }

    #[test]
    fn guids_read_as_windows_writes_them() {
        let bytes = [0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff];
        assert_eq!(guid(&bytes), "00112233-4455-6677-8899-aabbccddeeff");
    }
}
