//! The bait share: a small read-only tree of files an intruder wants (an IT folder with a
//! VPN note, a backup script with a service account, an HR export), plus the decky's lure
//! files. Paths are looked up case-insensitively, as NTFS does.

use decnet_domain::lures::LureFile;

/// A node of the share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Its path inside the share, with `\` separators, without a leading one (`""` is the root).
    pub path: String,
    /// Its content; `None` for a directory.
    pub content: Option<Vec<u8>>,
    /// A stable file id (NTFS file reference).
    pub id: u64,
}

impl Node {
    /// Its name (the last component).
    pub fn name(&self) -> &str {
        self.path.rsplit('\\').next().unwrap_or("")
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.content.is_none()
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.content.as_ref().map_or(0, |c| c.len() as u64)
    }
}

/// The share's tree.
#[derive(Debug, Clone)]
pub struct Share {
    /// The share's name.
    pub name: String,
    nodes: Vec<Node>,
}

impl Share {
    /// The bait share `name` of a host in `domain`, with `lures` in its root.
    pub fn bait(name: &str, netbios_domain: &str, dns_domain: &str, lures: &[LureFile]) -> Self {
        let domain = if dns_domain.is_empty() { "corp.local" } else { dns_domain };
        let files: Vec<(String, Option<String>)> = vec![
            ("IT".into(), None),
            ("IT\\Scripts".into(), None),
            ("HR".into(), None),
            (
                "IT\\VPN-Setup.txt".into(),
                Some(format!(
                    "VPN for new starters\r\n====================\r\n\r\nGateway: vpn.{domain}\r\nGroup: {netbios_domain}-Staff\r\n\
                     Log in with your {netbios_domain} account. Until your account is enabled use the\r\n\
                     onboarding account:\r\n\r\n  user: {netbios_domain}\\svc_onboard\r\n  password: Welcome2024!\r\n\r\n\
                     Change it at first login. Questions: helpdesk@{domain}\r\n"
                )),
            ),
            (
                "IT\\Scripts\\backup-nightly.ps1".into(),
                Some(format!(
                    "# Nightly copy of the file shares to the backup NAS\r\n$ErrorActionPreference = 'Stop'\r\n\
                     $user = '{netbios_domain}\\svc_backup'\r\n$pass = ConvertTo-SecureString 'Bkp#2023-Q4!' -AsPlainText -Force\r\n\
                     $cred = New-Object System.Management.Automation.PSCredential($user, $pass)\r\n\
                     New-PSDrive -Name B -PSProvider FileSystem -Root \\\\nas01.{domain}\\backup -Credential $cred\r\n\
                     robocopy D:\\Shares B:\\shares /MIR /R:1 /W:1 /LOG:C:\\Logs\\backup.log\r\n"
                )),
            ),
            (
                "HR\\Employee-Directory.csv".into(),
                Some(format!(
                    "Name,Department,Email,Phone\r\nJohn Smith,Finance,j.smith@{domain},x4410\r\n\
                     Maria Garcia,HR,m.garcia@{domain},x4120\r\nWei Chen,IT,w.chen@{domain},x4301\r\n\
                     Aisha Khan,Sales,a.khan@{domain},x4522\r\n"
                )),
            ),
            (
                "desktop.ini".into(),
                Some("[.ShellClassInfo]\r\nIconResource=C:\\Windows\\System32\\imageres.dll,-1001\r\n".into()),
            ),
        ];
        let mut nodes = vec![Node { path: String::new(), content: None, id: 0x0005_0000_0000_0005 }];
        let mut push = |path: String, content: Option<Vec<u8>>| {
            let id = 0x0001_0000_0000_0000 | (nodes.len() as u64 * 0x10 + 0x2a);
            nodes.push(Node { path, content, id });
        };
        for (path, content) in files {
            push(path, content.map(String::into_bytes));
        }
        for lure in lures.iter().take(16) {
            let name: String =
                lure.path.rsplit('/').next().unwrap_or("").chars().filter(|c| !"\\/:*?\"<>|".contains(*c)).collect();
            if !name.is_empty() && !name.starts_with('.') {
                push(name, Some(lure.content.clone().into_bytes()));
            }
        }
        Self { name: name.to_owned(), nodes }
    }

    /// The node at `path` (any case, `\` or `/` separators, no leading separator needed).
    pub fn find(&self, path: &str) -> Option<&Node> {
        let wanted = normalise(path);
        self.nodes.iter().find(|n| n.path.eq_ignore_ascii_case(&wanted))
    }

    /// The children of the directory at `path`, in order.
    pub fn children(&self, dir: &Node) -> Vec<&Node> {
        self.nodes.iter().filter(|n| !n.path.is_empty() && parent(&n.path).eq_ignore_ascii_case(&dir.path)).collect()
    }
}

/// `path` with `\` separators and no leading or trailing one.
pub fn normalise(path: &str) -> String {
    path.replace('/', "\\").trim_matches('\\').to_owned()
}

fn parent(path: &str) -> &str {
    path.rsplit_once('\\').map_or("", |(parent, _)| parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_found_in_any_case_and_directories_list_their_children() {
        let lure = LureFile { path: "~/notes/db-access.txt".into(), content: "db01 root:toor".into() };
        let share = Share::bait("Shared", "CORP", "corp.local", &[lure]);
        assert!(share.find("it\\vpn-setup.TXT").is_some_and(|n| !n.is_dir()));
        assert!(share.find("/IT/").is_some_and(Node::is_dir));
        let root = share.find("").unwrap();
        let names: Vec<&str> = share.children(root).iter().map(|n| n.name()).collect();
        assert_eq!(names, ["IT", "HR", "desktop.ini", "db-access.txt"]);
        let it = share.find("IT").unwrap();
        let names: Vec<&str> = share.children(it).iter().map(|n| n.name()).collect();
        assert_eq!(names, ["Scripts", "VPN-Setup.txt"]);
        assert!(share.find("IT\\nothing").is_none());
    }
}
