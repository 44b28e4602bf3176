//! The Windows identity of a decky: one host name, NetBIOS name, domain and OS build that
//! SMB, RDP, LDAP, MSSQL and every NTLM challenge agree on, so that scanners which read
//! them from several services (nmap's smb-os-discovery, rdp-ntlm-info, ldap-rootdse)
//! report one machine.
//!
//! A decky of a Windows archetype is a Windows host of the domain `DECNET_DOMAIN` (default
//! `corp.local`, the ldap decoy's default too); any other decky that speaks SMB is a Samba
//! server in the `WORKGROUP`, as a Linux file server is.

use decnet_domain::catalogue::OsFamily;

use crate::persona::Persona;

/// A Windows release as its protocols show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    /// The product name (`Windows Server 2019 Standard`).
    pub name: &'static str,
    /// Major version (the NTLM version block).
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Build number.
    pub build: u16,
    /// The highest SMB2 dialect it speaks (0x0311 is SMB 3.1.1).
    pub max_dialect: u16,
    /// Whether SMB1 is still on (Windows Server 2016 installs it; later releases do not).
    pub smb1: bool,
}

/// Windows Server releases a server persona picks from.
const SERVERS: &[Release] = &[
    Release {
        name: "Windows Server 2016 Standard",
        major: 10,
        minor: 0,
        build: 14393,
        max_dialect: 0x0311,
        smb1: true,
    },
    Release {
        name: "Windows Server 2019 Standard",
        major: 10,
        minor: 0,
        build: 17763,
        max_dialect: 0x0311,
        smb1: false,
    },
    Release {
        name: "Windows Server 2022 Standard",
        major: 10,
        minor: 0,
        build: 20348,
        max_dialect: 0x0311,
        smb1: false,
    },
];

/// Desktop releases a workstation persona picks from.
const DESKTOPS: &[Release] = &[
    Release { name: "Windows 10 Enterprise", major: 10, minor: 0, build: 19045, max_dialect: 0x0311, smb1: false },
    Release { name: "Windows 11 Enterprise", major: 10, minor: 0, build: 22631, max_dialect: 0x0311, smb1: false },
];

/// Samba as its NTLM version block shows it (Samba sends 6.1, build 0).
const SAMBA: Release = Release { name: "Samba", major: 6, minor: 1, build: 0, max_dialect: 0x0311, smb1: false };

/// The identity of one decky.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The NetBIOS computer name: the host name upper-cased, at most 15 characters.
    pub netbios_name: String,
    /// The NetBIOS domain (or workgroup) name.
    pub netbios_domain: String,
    /// The DNS domain (empty for a workgroup machine).
    pub dns_domain: String,
    /// The DNS host name (`host.corp.local`, or the host name alone in a workgroup).
    pub dns_name: String,
    /// The release.
    pub release: Release,
    /// Whether it is a Windows host (else Samba).
    pub windows: bool,
}

impl Identity {
    /// The identity of `persona`, in the decky's [`domain`].
    pub fn of(persona: &Persona) -> Self {
        Self::in_domain(persona, &domain())
    }

    /// The identity of `persona` if its domain is `domain`.
    pub fn in_domain(persona: &Persona, domain: &str) -> Self {
        let host: String = persona.hostname.chars().take_while(|c| *c != '.').collect();
        let netbios_name: String = host.to_ascii_uppercase().chars().take(15).collect();
        // `DECNET_WINDOWS_RELEASE` (e.g. `2016`, `11`) picks a release by name; else the seed does.
        let wanted = std::env::var("DECNET_WINDOWS_RELEASE").ok().filter(|w| !w.is_empty());
        let pick = |list: &'static [Release]| {
            wanted
                .as_deref()
                .and_then(|w| list.iter().find(|r| r.name.contains(&format!(" {w} "))))
                .or_else(|| list.get(persona.derive("windows release") as usize % list.len()))
                .copied()
        };
        let release = match persona.os_family {
            Some(OsFamily::WindowsServer) => pick(SERVERS),
            Some(OsFamily::Windows) => pick(DESKTOPS),
            _ => None,
        };
        match release {
            Some(release) => {
                let domain = domain.to_ascii_lowercase();
                let netbios_domain: String =
                    domain.split('.').next().unwrap_or("CORP").to_ascii_uppercase().chars().take(15).collect();
                Self {
                    dns_name: format!("{}.{domain}", host.to_ascii_lowercase()),
                    netbios_name,
                    netbios_domain,
                    dns_domain: domain,
                    release,
                    windows: true,
                }
            }
            None => Self {
                dns_name: host.to_ascii_lowercase(),
                netbios_name,
                netbios_domain: "WORKGROUP".into(),
                dns_domain: String::new(),
                release: SAMBA,
                windows: false,
            },
        }
    }
}

/// The decky's Active Directory domain: `DECNET_DOMAIN` if it is a valid DNS name, else
/// `corp.local`.
pub fn domain() -> String {
    std::env::var("DECNET_DOMAIN")
        .ok()
        .filter(|d| valid_domain(d))
        .map_or_else(|| "corp.local".to_owned(), |d| d.to_ascii_lowercase())
}

/// Whether `domain` is a DNS name a domain could have (labels of letters, digits, hyphens).
fn valid_domain(domain: &str) -> bool {
    domain.len() <= 253
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty() && label.len() <= 63 && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_windows_server_is_a_member_of_its_domain() {
        let persona = Persona::new("t", "decky-1", Some("fs-finance-01"), Some("windows-server"), None);
        let id = Identity::in_domain(&persona, "Corp.Local");
        assert!(id.windows);
        assert_eq!(id.netbios_name, "FS-FINANCE-01");
        assert_eq!(id.netbios_domain, "CORP");
        assert_eq!(id.dns_name, "fs-finance-01.corp.local");
        assert!(id.release.name.starts_with("Windows Server"));
    }

    #[test]
    fn netbios_names_are_cut_to_fifteen_characters_and_linux_hosts_are_samba() {
        let persona = Persona::new("t", "decky-1", Some("a-very-long-host-name"), None, None);
        let id = Identity::in_domain(&persona, "corp.local");
        assert_eq!(id.netbios_name, "A-VERY-LONG-HOS");
        assert!(!id.windows);
        assert_eq!(id.netbios_domain, "WORKGROUP");
    }

    #[test]
    fn domains_are_checked() {
        assert!(valid_domain("corp.example.com"));
        assert!(!valid_domain("corp"));
        assert!(!valid_domain("a..b"));
        assert!(!valid_domain("bad domain.com"));
    }
}
