//! A decky's persona: one consistent story told by every service of the decky.
//!
//! The hostname, the distribution (from the archetype's preferred ones, or
//! `DECNET_DISTRO`) and a seed derived from the decky's identity pick the kernel, the
//! OpenSSH build, the web server, the database versions and the mail and FTP banners, all
//! of them builds that distribution really shipped. The same decky always tells the same
//! story (restarts included); two deckies differ in hostname and usually in patch levels,
//! so no two share an identical set of banners by default.

use sha2::{Digest, Sha256};

/// A Linux distribution as the decoys present it.
#[derive(Debug)]
pub struct Distro {
    /// Slug, as archetypes name it.
    pub slug: &'static str,
    /// `/etc/os-release` PRETTY_NAME.
    pub pretty_name: &'static str,
    /// `/etc/os-release` ID.
    pub id: &'static str,
    /// `/etc/os-release` VERSION_ID.
    pub version_id: &'static str,
    /// `/etc/os-release` VERSION.
    pub version: &'static str,
    /// `/etc/os-release` VERSION_CODENAME (empty when the distribution has none).
    pub codename: &'static str,
    /// `/etc/os-release` ID_LIKE.
    pub id_like: &'static str,
    /// OpenSSH identification strings (after `SSH-2.0-`) this release shipped.
    pub ssh: &'static [&'static str],
    /// `(release, version)` kernel pairs for `uname -r` / `uname -v`.
    pub kernels: &'static [(&'static str, &'static str)],
    /// Web server `Server` headers.
    pub http: &'static [&'static str],
    /// MySQL or MariaDB server versions (MariaDB prefixes `5.5.5-`, as the real server
    /// does for old clients).
    pub mysql: &'static [&'static str],
    /// PostgreSQL `server_version` strings.
    pub postgres: &'static [&'static str],
    /// Redis versions.
    pub redis: &'static [&'static str],
    /// The FTP daemon's banner product.
    pub ftp: &'static str,
    /// What follows the host name in the SMTP greeting.
    pub smtp: &'static str,
    /// The login shell prompt suffix and `/etc/issue` line.
    pub issue: &'static str,
}

/// The distributions the decoys can present.
pub static DISTROS: &[Distro] = &[
    Distro {
        slug: "ubuntu22",
        pretty_name: "Ubuntu 22.04.4 LTS",
        id: "ubuntu",
        version_id: "22.04",
        version: "22.04.4 LTS (Jammy Jellyfish)",
        codename: "jammy",
        id_like: "debian",
        ssh: &[
            "OpenSSH_8.9p1 Ubuntu-3ubuntu0.4",
            "OpenSSH_8.9p1 Ubuntu-3ubuntu0.6",
            "OpenSSH_8.9p1 Ubuntu-3ubuntu0.10",
        ],
        kernels: &[
            ("5.15.0-91-generic", "#101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023"),
            ("5.15.0-105-generic", "#115-Ubuntu SMP Mon Apr 15 09:52:04 UTC 2024"),
            ("5.15.0-117-generic", "#127-Ubuntu SMP Fri Jul 5 20:13:28 UTC 2024"),
        ],
        http: &["nginx/1.18.0 (Ubuntu)", "Apache/2.4.52 (Ubuntu)"],
        mysql: &["8.0.36-0ubuntu0.22.04.1", "8.0.37-0ubuntu0.22.04.3", "8.0.39-0ubuntu0.22.04.1"],
        postgres: &["14.11 (Ubuntu 14.11-0ubuntu0.22.04.1)", "14.12 (Ubuntu 14.12-0ubuntu0.22.04.1)"],
        redis: &["6.0.16"],
        ftp: "vsFTPd 3.0.5",
        smtp: "ESMTP Postfix (Ubuntu)",
        issue: "Ubuntu 22.04.4 LTS",
    },
    Distro {
        slug: "ubuntu20",
        pretty_name: "Ubuntu 20.04.6 LTS",
        id: "ubuntu",
        version_id: "20.04",
        version: "20.04.6 LTS (Focal Fossa)",
        codename: "focal",
        id_like: "debian",
        ssh: &["OpenSSH_8.2p1 Ubuntu-4ubuntu0.9", "OpenSSH_8.2p1 Ubuntu-4ubuntu0.11"],
        kernels: &[
            ("5.4.0-169-generic", "#187-Ubuntu SMP Thu Nov 23 14:52:28 UTC 2023"),
            ("5.4.0-182-generic", "#202-Ubuntu SMP Fri Apr 26 12:29:36 UTC 2024"),
        ],
        http: &["nginx/1.18.0 (Ubuntu)", "Apache/2.4.41 (Ubuntu)"],
        mysql: &["8.0.36-0ubuntu0.20.04.1", "8.0.37-0ubuntu0.20.04.3"],
        postgres: &["12.18 (Ubuntu 12.18-0ubuntu0.20.04.1)", "12.19 (Ubuntu 12.19-0ubuntu0.20.04.1)"],
        redis: &["5.0.7"],
        ftp: "vsFTPd 3.0.3",
        smtp: "ESMTP Postfix (Ubuntu)",
        issue: "Ubuntu 20.04.6 LTS",
    },
    Distro {
        slug: "debian",
        pretty_name: "Debian GNU/Linux 12 (bookworm)",
        id: "debian",
        version_id: "12",
        version: "12 (bookworm)",
        codename: "bookworm",
        id_like: "",
        ssh: &["OpenSSH_9.2p1 Debian-2+deb12u2", "OpenSSH_9.2p1 Debian-2+deb12u3"],
        kernels: &[
            ("6.1.0-18-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)"),
            ("6.1.0-21-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.90-1 (2024-05-03)"),
        ],
        http: &["nginx/1.22.1", "Apache/2.4.59 (Debian)"],
        mysql: &["5.5.5-10.11.6-MariaDB-0+deb12u1"],
        postgres: &["15.6 (Debian 15.6-0+deb12u1)", "15.7 (Debian 15.7-0+deb12u1)"],
        redis: &["7.0.15"],
        ftp: "vsFTPd 3.0.3",
        smtp: "ESMTP Postfix (Debian/GNU)",
        issue: "Debian GNU/Linux 12",
    },
    Distro {
        slug: "rocky9",
        pretty_name: "Rocky Linux 9.3 (Blue Onyx)",
        id: "rocky",
        version_id: "9.3",
        version: "9.3 (Blue Onyx)",
        codename: "",
        id_like: "rhel centos fedora",
        ssh: &["OpenSSH_8.7"],
        kernels: &[
            ("5.14.0-362.18.1.el9_3.x86_64", "#1 SMP PREEMPT_DYNAMIC Mon Jan 29 07:05:48 UTC 2024"),
            ("5.14.0-362.24.1.el9_3.0.1.x86_64", "#1 SMP PREEMPT_DYNAMIC Wed Apr 3 16:21:45 UTC 2024"),
        ],
        http: &["nginx/1.20.1", "Apache/2.4.57 (Rocky Linux)"],
        mysql: &["8.0.36"],
        postgres: &["13.14"],
        redis: &["6.2.7"],
        ftp: "vsFTPd 3.0.5",
        smtp: "ESMTP Postfix",
        issue: "Rocky Linux 9.3 (Blue Onyx)",
    },
    Distro {
        slug: "alpine",
        pretty_name: "Alpine Linux v3.19",
        id: "alpine",
        version_id: "3.19.1",
        version: "3.19.1",
        codename: "",
        id_like: "",
        ssh: &["OpenSSH_9.6"],
        kernels: &[("6.6.22-0-lts", "#1-Alpine SMP PREEMPT_DYNAMIC Fri, 22 Mar 2024 08:30:16 +0000")],
        http: &["nginx/1.24.0"],
        mysql: &["5.5.5-10.11.6-MariaDB"],
        postgres: &["16.2"],
        redis: &["7.2.4"],
        ftp: "vsFTPd 3.0.5",
        smtp: "ESMTP Postfix",
        issue: "Welcome to Alpine Linux 3.19",
    },
];

/// The story one decky tells.
#[derive(Debug, Clone)]
pub struct Persona {
    /// Host name (short).
    pub hostname: String,
    /// The distribution.
    pub distro: &'static Distro,
    /// `uname -r`.
    pub kernel_release: &'static str,
    /// `uname -v`.
    pub kernel_version: &'static str,
    /// OpenSSH identification (after `SSH-2.0-`).
    pub ssh_version: &'static str,
    /// Web `Server` header.
    pub http_server: &'static str,
    /// MySQL/MariaDB version.
    pub mysql_version: &'static str,
    /// PostgreSQL version.
    pub postgres_version: &'static str,
    /// Redis version.
    pub redis_version: &'static str,
    /// Seconds the host had been up when the decoy started.
    pub uptime_at_start: u64,
    /// The OS family of the decky's archetype (Windows archetypes present Windows on SMB,
    /// RDP, LDAP and MSSQL), if it has one.
    pub os_family: Option<decnet_domain::catalogue::OsFamily>,
    /// 32 bytes unique to this decky (host keys, ids, salts of bait data).
    pub seed: [u8; 32],
}

impl Persona {
    /// The persona of the decky described by the environment: `DECNET_TOPOLOGY`,
    /// `DECNET_DECKY`, `DECNET_HOSTNAME`, `DECNET_ARCHETYPE`, `DECNET_DISTRO`. On a host
    /// without them, the machine's host name stands in.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let decky = var("DECNET_DECKY").or_else(|| var("HOSTNAME")).unwrap_or_else(|| "srv-01".to_owned());
        Self::new(
            var("DECNET_TOPOLOGY").as_deref().unwrap_or(""),
            &decky,
            var("DECNET_HOSTNAME").as_deref(),
            var("DECNET_ARCHETYPE").as_deref(),
            var("DECNET_DISTRO").as_deref(),
        )
    }

    /// The persona of decky `decky` of `topology`.
    pub fn new(
        topology: &str,
        decky: &str,
        hostname: Option<&str>,
        archetype: Option<&str>,
        distro: Option<&str>,
    ) -> Self {
        let seed: [u8; 32] = Sha256::new()
            .chain_update(b"decnet-persona\0")
            .chain_update(topology.as_bytes())
            .chain_update(b"\0")
            .chain_update(decky.as_bytes())
            .finalize()
            .into();
        let pick = |salt: u8, n: usize| -> usize {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&seed[(salt as usize % 24)..(salt as usize % 24) + 8]);
            (u64::from_le_bytes(bytes).rotate_left(u32::from(salt)) % n.max(1) as u64) as usize
        };
        let preferred: Vec<&'static Distro> = archetype
            .and_then(decnet_domain::catalogue::archetype)
            .map(|a| a.preferred_distros.iter().filter_map(|slug| DISTROS.iter().find(|d| d.slug == *slug)).collect())
            .unwrap_or_default();
        let distro = distro
            .and_then(|slug| DISTROS.iter().find(|d| d.slug == slug))
            .or_else(|| preferred.get(pick(1, preferred.len())).copied())
            .unwrap_or(&DISTROS[pick(2, 3)]);
        let (kernel_release, kernel_version) = distro.kernels[pick(3, distro.kernels.len())];
        let mut uptime = [0u8; 8];
        uptime.copy_from_slice(&seed[24..32]);
        Self {
            hostname: hostname.unwrap_or(decky).to_owned(),
            distro,
            kernel_release,
            kernel_version,
            ssh_version: distro.ssh[pick(4, distro.ssh.len())],
            http_server: distro.http[pick(5, distro.http.len())],
            mysql_version: distro.mysql[pick(6, distro.mysql.len())],
            postgres_version: distro.postgres[pick(7, distro.postgres.len())],
            redis_version: distro.redis[pick(8, distro.redis.len())],
            // Between one hour and 45 days.
            uptime_at_start: 3600 + u64::from_le_bytes(uptime) % (45 * 86_400),
            os_family: archetype.and_then(decnet_domain::catalogue::archetype).map(|a| a.os),
            seed,
        }
    }

    /// `/etc/os-release`.
    pub fn os_release(&self) -> String {
        let d = self.distro;
        let mut text = format!(
            "PRETTY_NAME=\"{}\"\nNAME=\"{}\"\nVERSION_ID=\"{}\"\nVERSION=\"{}\"\nID={}\n",
            d.pretty_name,
            d.pretty_name
                .split(' ')
                .take_while(|w| !w.starts_with(|c: char| c.is_ascii_digit()))
                .collect::<Vec<_>>()
                .join(" "),
            d.version_id,
            d.version,
            d.id
        );
        if !d.codename.is_empty() {
            text.push_str(&format!("VERSION_CODENAME={}\n", d.codename));
        }
        if !d.id_like.is_empty() {
            text.push_str(&format!("ID_LIKE=\"{}\"\n", d.id_like));
        }
        text
    }

    /// `uname -a`.
    pub fn uname_a(&self) -> String {
        format!(
            "Linux {} {} {} x86_64 x86_64 x86_64 GNU/Linux",
            self.hostname, self.kernel_release, self.kernel_version
        )
    }

    /// 8 bytes of the seed for `purpose`, as a number (stable per decky and purpose).
    pub fn derive(&self, purpose: &str) -> u64 {
        let digest = Sha256::new().chain_update(self.seed).chain_update(purpose.as_bytes()).finalize();
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(bytes)
    }

    /// 32 bytes of the seed for `purpose` (e.g. a host key).
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        Sha256::new().chain_update(self.seed).chain_update(purpose.as_bytes()).finalize().into()
    }

    /// An endless stream of bytes for `purpose`, for the key generators that draw from a
    /// random source: the same keys from the same persona after every restart.
    pub fn key_stream(&self, purpose: &str) -> KeyStream {
        KeyStream { seed: self.derive_key(purpose), counter: 0, block: [0; 32], used: 32 }
    }
}

/// A deterministic generator (SHA-256 in counter mode over a secret seed), so a decky's
/// keys are the same after every restart without being stored anywhere. It serves both
/// generations of the `rand_core` traits: ssh-key's (0.10) and rsa's (0.6).
pub struct KeyStream {
    seed: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl KeyStream {
    fn fill(&mut self, dst: &mut [u8]) {
        for byte in dst {
            if self.used == self.block.len() {
                self.block =
                    Sha256::new().chain_update(self.seed).chain_update(self.counter.to_le_bytes()).finalize().into();
                self.counter += 1;
                self.used = 0;
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
    }

    fn word<const N: usize>(&mut self) -> [u8; N] {
        let mut bytes = [0u8; N];
        self.fill(&mut bytes);
        bytes
    }
}

impl rand_core::TryRng for KeyStream {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(u32::from_le_bytes(self.word()))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(u64::from_le_bytes(self.word()))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.fill(dst);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for KeyStream {}

impl rsa::rand_core::RngCore for KeyStream {
    fn next_u32(&mut self) -> u32 {
        u32::from_le_bytes(self.word())
    }

    fn next_u64(&mut self) -> u64 {
        u64::from_le_bytes(self.word())
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        self.fill(dst);
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill(dst);
        Ok(())
    }
}

impl rsa::rand_core::CryptoRng for KeyStream {}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_same_decky_tells_the_same_story_and_others_differ() {
        let a = Persona::new("t1", "decky-001", None, Some("linux-server"), None);
        let again = Persona::new("t1", "decky-001", None, Some("linux-server"), None);
        assert_eq!((a.ssh_version, a.kernel_release, a.seed), (again.ssh_version, again.kernel_release, again.seed));
        let fleet: Vec<_> = (0..20).map(|i| Persona::new("t1", &format!("decky-{i:03}"), None, None, None)).collect();
        let seeds: std::collections::HashSet<_> = fleet.iter().map(|p| p.seed).collect();
        assert_eq!(seeds.len(), 20);
        let stories: std::collections::HashSet<_> =
            fleet.iter().map(|p| (p.hostname.clone(), p.ssh_version, p.http_server, p.kernel_release)).collect();
        assert_eq!(stories.len(), 20, "no two deckies share an identical set of banners");
    }

    #[test]
    fn the_archetype_and_the_override_pick_the_distribution() {
        for i in 0..10 {
            let p = Persona::new("t", &format!("d{i}"), None, Some("iot-device"), None);
            assert_eq!(p.distro.slug, "alpine");
        }
        let p = Persona::new("t", "d", Some("files-01"), None, Some("rocky9"));
        assert_eq!(p.distro.slug, "rocky9");
        assert!(p.uname_a().starts_with("Linux files-01 5.14.0-362"));
        assert!(p.os_release().contains("ID=rocky\n"));
        assert!(p.ssh_version.starts_with("OpenSSH_8.7"));
    }
}
