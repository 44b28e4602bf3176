//! The smb decoy against Samba's `smbclient` and nmap's SMB scripts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Decoy, assert_schema, client, loopback, netntlmv2_verifies, text};

/// A Windows file server of the CORP domain.
const WINDOWS: [(&str, &str); 2] = [("DECNET_HOSTNAME", "fs-finance-01"), ("DECNET_ARCHETYPE", "windows-server")];

fn smbclient(decoy: &Decoy, args: &[&str]) -> String {
    let port = decoy.addr.port().to_string();
    let mut all = vec!["-p", port.as_str(), "-t", "10"];
    all.extend_from_slice(args);
    text(&client("smbclient", &all, None))
}

#[test]
fn smbclient_lists_the_shares_of_a_null_session() {
    let mut decoy = Decoy::start("smb", &format!("{}:0", loopback()), None, &WINDOWS);
    let out = smbclient(&decoy, &["-N", "-L", &format!("//{}", decoy.addr.ip())]);
    assert!(out.contains("Anonymous login successful"), "{out}");
    for share in ["ADMIN$", "C$", "IPC$", "Remote IPC", "Shared"] {
        assert!(out.contains(share), "{share} listed: {out}");
    }
    let handshake = decoy.wait_kind("handshake", |e| e["details"]["protocol"] == "SMB2");
    assert_schema(&handshake, "smb");
    assert_eq!(handshake["details"]["dialect"], "3.1.1");
    assert!(handshake["details"]["dialects"].as_array().unwrap().contains(&"2.0.2".into()), "{handshake}");
    assert_eq!(handshake["details"]["client_guid"].as_str().unwrap().len(), 36);
    decoy.wait_kind("auth_attempt", |e| e["details"]["method"] == "anonymous" && e["details"]["outcome"] == "success");
    decoy.wait_kind("command", |e| e["command"] == "srvsvc NetrShareEnum");
}

#[test]
fn a_file_of_the_bait_share_is_listed_and_downloaded() {
    let mut decoy =
        Decoy::start("smb", &format!("{}:0", loopback()), Some(serde_json::json!({"share": "Finance"})), &WINDOWS);
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("vpn.txt");
    let commands = format!("ls; cd IT; ls; get VPN-Setup.txt {}", local.display());
    let out = smbclient(&decoy, &["-N", &format!("//{}/Finance", decoy.addr.ip()), "-c", &commands]);
    assert!(out.contains("VPN-Setup.txt") && out.contains("Scripts") && out.contains("desktop.ini"), "{out}");
    let file = std::fs::read_to_string(&local).unwrap();
    assert!(file.contains("CORP\\svc_onboard") && file.contains("vpn.corp.local"), "{file}");
    let download = decoy.wait_kind("file_download", |_| true);
    assert_eq!(download["details"]["path"], "Finance\\IT\\VPN-Setup.txt");
    assert_eq!(download["details"]["size"], file.len());

    // Writing is refused, and recorded.
    let upload = dir.path().join("payload.exe");
    std::fs::write(&upload, b"MZ").unwrap();
    let put = format!("put {} payload.exe", upload.display());
    let out = smbclient(&decoy, &["-N", &format!("//{}/Finance", decoy.addr.ip()), "-c", &put]);
    assert!(out.contains("NT_STATUS_ACCESS_DENIED"), "{out}");
    decoy.wait_kind("file_upload", |e| e["command"].as_str().unwrap().contains("payload.exe"));
}

#[test]
fn a_named_login_is_captured_as_a_netntlmv2_line_that_cracks_to_the_password() {
    let mut decoy = Decoy::start("smb", &format!("{}:0", loopback()), None, &WINDOWS);
    let out = smbclient(&decoy, &["-U", "CORP/alice%Winter2024!", "-L", &format!("//{}", decoy.addr.ip())]);
    assert!(out.contains("NT_STATUS_LOGON_FAILURE"), "{out}");
    let attempt = decoy.wait_kind("auth_attempt", |e| e["details"]["method"] == "ntlm");
    assert_eq!(attempt["principal"], "CORP\\alice");
    assert_eq!(attempt["secret"]["kind"], "net_ntlmv2");
    let line = attempt["secret"]["value"].as_str().unwrap();
    assert_eq!(line.split(':').nth(3), attempt["secret"]["salt"].as_str(), "the line carries the server challenge");
    assert!(netntlmv2_verifies(line, "Winter2024!"), "{line}");
    assert!(!netntlmv2_verifies(line, "Winter2025!"));
    assert!(attempt["details"]["workstation"].is_string() && attempt["details"]["ntlm_flags"].is_string());
}

#[test]
fn the_ntlm_challenge_carries_the_windows_identity_and_smb1_only_clients_are_cut_off() {
    // Windows Server 2019: SMB1 removed.
    let env = [WINDOWS[0], WINDOWS[1], ("DECNET_WINDOWS_RELEASE", "2019")];
    let decoy = Decoy::start("smb", &format!("{}:445", loopback()), None, &env);
    let ip = decoy.addr.ip().to_string();
    // smb2-security-mode and smb-protocols speak SMB2; ntlm-info style data comes from the
    // CHALLENGE, which smbclient shows at debug level 10 as the server's names.
    let out = text(&client(
        "nmap",
        &["-Pn", "-n", "-p", "445", "--script", "smb2-security-mode,smb-protocols,smb2-time", &ip],
        None,
    ));
    assert!(out.contains("Message signing enabled but not required"), "{out}");
    assert!(out.contains("311") && out.contains("202"), "{out}");
    let debug = smbclient(&decoy, &["-N", "-L", &ip, "-d", "10"]);
    for name in ["FS-FINANCE-01", "fs-finance-01.corp.local", "corp.local"] {
        assert!(debug.contains(name), "{name} in the NTLM challenge: {debug}");
    }
    // An SMB1-only client (NT1) is refused, as Windows with SMB1 removed refuses it.
    let old = smbclient(&decoy, &["-N", "-L", &ip, "-m", "NT1"]);
    assert!(!old.contains("Anonymous login successful"), "{old}");
}

#[test]
fn port_139_answers_the_netbios_session_request() {
    let mut decoy = Decoy::start("smb", &format!("{}:139", loopback()), None, &WINDOWS);
    let out = smbclient(&decoy, &["-N", "-L", &decoy.addr.ip().to_string()]);
    assert!(out.contains("Shared"), "{out}");
    decoy.wait_kind("command", |e| e["command"] == "srvsvc NetrShareEnum");
}

#[test]
fn a_windows_server_2016_speaks_smb1_to_nmap_and_records_the_ms17_010_probe() {
    let env = [WINDOWS[0], WINDOWS[1], ("DECNET_WINDOWS_RELEASE", "2016")];
    let mut decoy = Decoy::start("smb", &format!("{}:445", loopback()), None, &env);
    let ip = decoy.addr.ip().to_string();
    let scripts = "smb-os-discovery,smb-vuln-ms17-010";
    let out = text(&client("nmap", &["-Pn", "-n", "-p", "445", "--script", scripts, &ip], None));
    for line in [
        "OS: Windows Server 2016 Standard 14393 (Windows Server 2016 Standard 6.3)",
        "NetBIOS computer name: FS-FINANCE-01",
        "Domain name: corp.local",
        "FQDN: fs-finance-01.corp.local",
    ] {
        assert!(out.contains(line), "{line} in {out}");
    }
    assert!(!out.contains("VULNERABLE"), "answered as a patched host: {out}");
    let probe = decoy.wait_kind("command", |e| e["details"]["probe"] == "ms17-010");
    assert_eq!(probe["details"]["protocol"], "SMB1");
}
