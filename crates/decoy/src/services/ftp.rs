//! `ftp`: a vsFTPd persona with a read-only bait filesystem.
//!
//! Every USER/PASS pair is an `auth_attempt`; anonymous logins (when enabled) and the
//! configured account get in, anything else is "530 Login incorrect." (three strikes and
//! the connection closes, as vsftpd does). Logged-in clients browse a per-decky bait tree
//! over passive data connections (PASV and EPSV, on the control connection's local
//! address); every download is a `file_download` event, every upload, delete, rename or
//! mkdir is refused with 550 and recorded as `file_upload` or `command`.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::event::{Fields, Kind, Secret, printable};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End};
use crate::services::CommandLine;
use crate::services::shell::resolve;

/// A file of the bait tree.
#[derive(Debug, Clone)]
struct Entry {
    path: &'static str,
    is_dir: bool,
    content: Vec<u8>,
}

/// The ftp decoy.
#[derive(Debug)]
pub struct Ftp {
    banner: String,
    anonymous: bool,
    account: Option<(String, String)>,
    tree: Vec<Entry>,
    date: String,
}

fn bytes_from_seed(seed: u64, len: usize) -> Vec<u8> {
    // A small xorshift stream: deterministic per decky, looks like compressed data.
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

impl Ftp {
    /// The decoy for `persona` with `config`.
    pub fn new(persona: &Persona, config: &Config) -> Self {
        let host = persona.hostname.as_str();
        let gz = |purpose: &str, size: u64| {
            let mut content = vec![0x1f, 0x8b, 0x08, 0x00];
            content.extend(bytes_from_seed(persona.derive(purpose), (size + persona.derive(purpose) % size) as usize));
            content
        };
        let readme = format!(
            "Backup drop for {host}\n\nNightly dumps land in backups/ (rotated after 14 days).\n\
             Restore: gunzip -c backups/<file>.sql.gz | mysql -u backup -p app\nQuestions: ops@{host}.localdomain\n"
        );
        let notes = format!(
            "TODO\n- rotate the backup account password (still the one from the migration)\n\
             - db: app / Wint3r-{:04}! on 10.0.3.12\n- move the off-site copy to the new bucket\n",
            persona.derive("ftp notes") % 10_000
        );
        let tree = vec![
            Entry { path: "/README.txt", is_dir: false, content: readme.into_bytes() },
            Entry { path: "/notes.txt", is_dir: false, content: notes.into_bytes() },
            Entry { path: "/backups", is_dir: true, content: Vec::new() },
            Entry { path: "/backups/app-db-20261118.sql.gz", is_dir: false, content: gz("ftp db1", 24_000) },
            Entry { path: "/backups/app-db-20261119.sql.gz", is_dir: false, content: gz("ftp db2", 24_000) },
            Entry { path: "/backups/etc-20261115.tar.gz", is_dir: false, content: gz("ftp etc", 12_000) },
            Entry { path: "/pub", is_dir: true, content: Vec::new() },
        ];
        let account = match (config.string("user"), config.string("password")) {
            (Some(user), Some(password)) => Some((user.to_owned(), password.to_owned())),
            _ => None,
        };
        Self {
            banner: config.string("banner").map_or_else(|| format!("({})", persona.distro.ftp), str::to_owned),
            anonymous: config.bool("anonymous").unwrap_or(true),
            account,
            tree,
            date: "Nov 19 03:12".to_owned(),
        }
    }

    fn find(&self, path: &str) -> Option<&Entry> {
        if path == "/" {
            return None;
        }
        self.tree.iter().find(|e| e.path == path)
    }

    fn is_dir(&self, path: &str) -> bool {
        path == "/" || self.find(path).is_some_and(|e| e.is_dir)
    }

    /// Entries directly under `dir`.
    fn children(&self, dir: &str) -> Vec<&Entry> {
        let prefix = if dir == "/" { "/".to_owned() } else { format!("{dir}/") };
        self.tree
            .iter()
            .filter(|e| e.path.strip_prefix(&prefix).is_some_and(|rest| !rest.is_empty() && !rest.contains('/')))
            .collect()
    }

    fn listing(&self, dir: &str, names_only: bool) -> String {
        self.children(dir)
            .iter()
            .map(|e| {
                let name = e.path.rsplit('/').next().unwrap_or(e.path);
                if names_only {
                    format!("{name}\r\n")
                } else if e.is_dir {
                    format!("drwxr-xr-x    2 0        0            4096 {} {name}\r\n", self.date)
                } else {
                    format!("-rw-r--r--    1 0        0        {:>8} {} {name}\r\n", e.content.len(), self.date)
                }
            })
            .collect()
    }
}

/// What the client asked the data connection for.
enum Transfer {
    Listing(String),
    File(Vec<u8>),
}

impl Decoy for Ftp {
    fn name(&self) -> &'static str {
        "ftp"
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        if conn.write(format!("220 {}\r\n", self.banner).as_bytes()).await.is_err() {
            return End::Io;
        }
        let mut user: Option<Vec<u8>> = None;
        let mut logged_in = false;
        let mut failures = 0;
        let mut cwd = "/".to_owned();
        let mut passive: Option<TcpListener> = None;
        loop {
            if !logged_in && conn.auth_expired() {
                let _ = conn.write(b"421 Timeout.\r\n").await;
                return End::Timeout;
            }
            let CommandLine { line, verb, argument } =
                match super::command_line(conn, b"500 Unknown command.\r\n", &["PASS"]).await {
                    Ok(Some(command)) => command,
                    Ok(None) => continue,
                    Err(end) => return end,
                };
            let reply: String = match verb.as_str() {
                "USER" if logged_in => "530 Can't change to another user.\r\n".into(),
                "USER" => {
                    user = Some(argument.as_bytes().to_vec());
                    "331 Please specify the password.\r\n".into()
                }
                "PASS" if logged_in => "230 Already logged in.\r\n".into(),
                "PASS" => {
                    let Some(name) = user.take() else {
                        if conn.write(b"503 Login with USER first.\r\n").await.is_err() {
                            return End::Io;
                        }
                        continue;
                    };
                    let name_text = String::from_utf8_lossy(&name).into_owned();
                    let anonymous = self.anonymous && matches!(name_text.to_ascii_lowercase().as_str(), "anonymous" | "ftp");
                    let known = self.account.as_ref().is_some_and(|(u, p)| *u == name_text && p.as_bytes() == argument.as_bytes());
                    let outcome = if anonymous || known { "success" } else { "failure" };
                    let fields = Fields::default()
                        .principal(&name)
                        .secret(Secret::password(argument.as_bytes()))
                        .detail("outcome", outcome);
                    conn.log.record(Kind::AuthAttempt, fields).await;
                    if anonymous || known {
                        logged_in = true;
                        "230 Login successful.\r\n".into()
                    } else {
                        failures += 1;
                        if failures >= 3 {
                            let _ = conn.write(b"530 Login incorrect.\r\n").await;
                            return End::Done;
                        }
                        "530 Login incorrect.\r\n".into()
                    }
                }
                "QUIT" => {
                    let _ = conn.write(b"221 Goodbye.\r\n").await;
                    return End::Quit;
                }
                "FEAT" => "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n".into(),
                "SYST" => "215 UNIX Type: L8\r\n".into(),
                "OPTS" => "200 Always in UTF8 mode.\r\n".into(),
                "NOOP" => "200 NOOP ok.\r\n".into(),
                "AUTH" if !logged_in => "530 Please login with USER and PASS.\r\n".into(),
                _ if !logged_in => "530 Please login with USER and PASS.\r\n".into(),
                "PWD" | "XPWD" => format!("257 \"{cwd}\" is the current directory\r\n"),
                "CWD" | "XCWD" => {
                    let target = resolve(&cwd, argument.trim());
                    if self.is_dir(&target) {
                        cwd = target;
                        "250 Directory successfully changed.\r\n".into()
                    } else {
                        "550 Failed to change directory.\r\n".into()
                    }
                }
                "CDUP" | "XCUP" => {
                    cwd = resolve(&cwd, "..");
                    "250 Directory successfully changed.\r\n".into()
                }
                "TYPE" => match argument.trim().to_ascii_uppercase().as_str() {
                    "I" | "L 8" => "200 Switching to Binary mode.\r\n".into(),
                    "A" | "A N" => "200 Switching to ASCII mode.\r\n".into(),
                    _ => "500 Unrecognised TYPE command.\r\n".into(),
                },
                "MODE" | "STRU" => "200 Mode set to S.\r\n".into(),
                "REST" => "350 Restart position accepted (0).\r\n".into(),
                "PASV" | "EPSV" => {
                    let local = conn.log.local().ip();
                    match TcpListener::bind((local, 0)).await.and_then(|l| Ok((l.local_addr()?, l))) {
                        Ok((bound, listener)) => {
                            passive = Some(listener);
                            match (verb.as_str(), local) {
                                ("PASV", std::net::IpAddr::V4(v4)) => {
                                    let o = v4.octets();
                                    let p = bound.port();
                                    format!("227 Entering Passive Mode ({},{},{},{},{},{}).\r\n", o[0], o[1], o[2], o[3], p >> 8, p & 0xff)
                                }
                                _ => format!("229 Entering Extended Passive Mode (|||{}|)\r\n", bound.port()),
                            }
                        }
                        Err(_) => "425 Could not open data connection.\r\n".into(),
                    }
                }
                "PORT" | "EPRT" => "500 Illegal PORT command.\r\n".into(),
                "SIZE" => match self.find(&resolve(&cwd, argument.trim())) {
                    Some(entry) if !entry.is_dir => format!("213 {}\r\n", entry.content.len()),
                    _ => "550 Could not get file size.\r\n".into(),
                },
                "MDTM" => match self.find(&resolve(&cwd, argument.trim())) {
                    Some(entry) if !entry.is_dir => "213 20261119031200\r\n".into(),
                    _ => "550 Could not get file modification time.\r\n".into(),
                },
                "LIST" | "NLST" | "RETR" => {
                    let argument = argument.trim();
                    // Listing flags such as `-la` are not paths.
                    let path_arg = if argument.starts_with('-') { "" } else { argument };
                    let target = resolve(&cwd, path_arg);
                    let transfer = match verb.as_str() {
                        "RETR" => match self.find(&target) {
                            Some(entry) if !entry.is_dir => {
                                let fields = Fields::default().detail("path", target.as_str()).detail("bytes", entry.content.len());
                                conn.log.record(Kind::FileDownload, fields).await;
                                Some(Transfer::File(entry.content.clone()))
                            }
                            _ => None,
                        },
                        names => {
                            let dir = if self.is_dir(&target) { target } else { cwd.clone() };
                            Some(Transfer::Listing(self.listing(&dir, names == "NLST")))
                        }
                    };
                    match (transfer, passive.take()) {
                        (None, _) => "550 Failed to open file.\r\n".into(),
                        (Some(_), None) => "425 Use PORT or PASV first.\r\n".into(),
                        (Some(transfer), Some(listener)) => {
                            let opening = match &transfer {
                                Transfer::Listing(_) => "150 Here comes the directory listing.\r\n".to_owned(),
                                Transfer::File(content) => format!("150 Opening BINARY mode data connection for {} ({} bytes).\r\n", target_name(argument), content.len()),
                            };
                            if conn.write(opening.as_bytes()).await.is_err() {
                                return End::Io;
                            }
                            // vsftpd's accept_timeout is 60 s; a client that never connects
                            // should not hold the session much longer.
                            let idle = conn.limits().idle.min(std::time::Duration::from_secs(15));
                            let sent = tokio::time::timeout(idle, async {
                                let (mut data, _) = listener.accept().await?;
                                match transfer {
                                    Transfer::Listing(text) => data.write_all(text.as_bytes()).await?,
                                    Transfer::File(content) => data.write_all(&content).await?,
                                }
                                data.shutdown().await
                            })
                            .await;
                            match (sent, verb.as_str()) {
                                (Ok(Ok(())), "RETR") => "226 Transfer complete.\r\n".into(),
                                (Ok(Ok(())), _) => "226 Directory send OK.\r\n".into(),
                                _ => "425 Failed to establish connection.\r\n".into(),
                            }
                        }
                    }
                }
                "STOR" | "APPE" | "STOU" => {
                    passive = None;
                    let fields = Fields::default().command(&line).detail("path", resolve(&cwd, argument.trim())).detail("refused", true);
                    conn.log.record(Kind::FileUpload, fields).await;
                    "550 Permission denied.\r\n".into()
                }
                "DELE" | "RMD" | "XRMD" | "MKD" | "XMKD" | "RNFR" | "RNTO" | "SITE" | "CHMOD" => "550 Permission denied.\r\n".into(),
                _ => "500 Unknown command.\r\n".into(),
            };
            if conn.write(reply.as_bytes()).await.is_err() {
                return End::Io;
            }
        }
    }
}

fn target_name(argument: &str) -> String {
    printable(argument.rsplit('/').next().unwrap_or(argument).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_and_never_climb_above_the_root() {
        assert_eq!(resolve("/", "backups"), "/backups");
        assert_eq!(resolve("/backups", ".."), "/");
        assert_eq!(resolve("/backups", "../../../etc/passwd"), "/etc/passwd");
        assert_eq!(resolve("/backups", "/README.txt"), "/README.txt");
        assert_eq!(resolve("/", "./a/./b/.."), "/a");
    }
}
