//! The fake shell's system commands and `/proc` files: CPU, memory, disks, processes,
//! users' groups, sockets and services. Every figure comes from one place here (two CPUs,
//! one memory size, one process table, the namespace's real listening ports), so `nproc`,
//! `lscpu`, `/proc/cpuinfo`, `free`, `/proc/meminfo`, `top`, `ps`, `pgrep` and `ss` agree
//! with one another as they do on a real host.

use super::{Outcome, Shell};

/// CPUs of every persona (what `/proc/cpuinfo` lists).
const CPUS: u32 = 2;
/// Memory, in KiB: total, used, free, shared, buff/cache, available.
const MEM: [u64; 6] = [4_013_220, 1_204_112, 611_540, 12_044, 2_197_568, 2_530_232];
/// Swap, in KiB: total, used, free.
const SWAP: [u64; 3] = [2_097_148, 4_096, 2_093_052];

/// The process table: PID, user, command.
const PROCESSES: &[(u32, &str, &str)] = &[
    (1, "root", "/sbin/init"),
    (412, "root", "/lib/systemd/systemd-journald"),
    (688, "root", "/usr/sbin/cron -f -P"),
    (702, "syslog", "/usr/sbin/rsyslogd -n -iNONE"),
    (731, "root", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"),
];

/// Services `systemctl` lists as running.
const UNITS: &[(&str, &str)] = &[
    ("cron.service", "Regular background program processing daemon"),
    ("rsyslog.service", "System Logging Service"),
    ("ssh.service", "OpenBSD Secure Shell server"),
    ("systemd-journald.service", "Journal Service"),
];

fn scaled(kib: u64, flags: &str) -> String {
    if flags.contains('h') {
        let gib = kib as f64 / 1_048_576.0;
        if gib >= 1.0 { format!("{gib:.1}Gi") } else { format!("{}Mi", kib / 1024) }
    } else if flags.contains('g') {
        (kib / 1_048_576).to_string()
    } else if flags.contains('m') {
        (kib / 1024).to_string()
    } else {
        kib.to_string()
    }
}

impl Shell {
    /// The process table with the persona's web server (as `ps` shows it).
    fn processes(&self) -> Vec<(u32, &'static str, String)> {
        let web = if self.persona.http_server.starts_with("nginx") {
            "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;"
        } else {
            "/usr/sbin/apache2 -k start"
        };
        PROCESSES
            .iter()
            .map(|(pid, user, command)| (*pid, *user, (*command).to_owned()))
            .chain(std::iter::once((802, "root", web.to_owned())))
            .collect()
    }

    /// `/proc` and `/etc` files whose content is shared with the commands here.
    pub(super) fn system_file(&self, path: &str) -> Option<String> {
        Some(match path {
            "/proc/meminfo" => format!(
                "MemTotal:       {:>8} kB\nMemFree:        {:>8} kB\nMemAvailable:   {:>8} kB\nBuffers:        {:>8} kB\n\
                 Cached:         {:>8} kB\nSwapTotal:      {:>8} kB\nSwapFree:       {:>8} kB\nShmem:          {:>8} kB\n",
                MEM[0],
                MEM[2],
                MEM[5],
                98_304,
                MEM[4] - 98_304,
                SWAP[0],
                SWAP[2],
                MEM[3]
            ),
            "/proc/uptime" => {
                format!("{}.{:02} {}.00\n", self.uptime_secs(), self.uptime_secs() % 97, self.uptime_secs() * 19 / 10)
            }
            "/proc/loadavg" => "0.08 0.03 0.01 1/187 8123\n".to_owned(),
            "/etc/group" => {
                let user = if self.user == "root" { "ubuntu" } else { self.user.as_str() };
                format!(
                    "root:x:0:\ndaemon:x:1:\nadm:x:4:syslog,{user}\ncdrom:x:24:{user}\nsudo:x:27:{user}\ndip:x:30:{user}\n\
                     www-data:x:33:\nplugdev:x:46:{user}\nlxd:x:110:{user}\nnogroup:x:65534:\n{user}:x:1000:\n"
                )
            }
            "/etc/resolv.conf" => "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n".to_owned(),
            "/etc/crontab" => "SHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin\n\n\
                 17 *\t* * *\troot\tcd / && run-parts --report /etc/cron.hourly\n\
                 25 6\t* * *\troot\ttest -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily )\n"
                .to_owned(),
            _ => return None,
        })
    }

    /// The system commands; `None` for any other.
    pub(super) fn system(&self, name: &str, args: &[&str], outcome: &mut Outcome) -> Option<String> {
        let flags: String = args.iter().filter_map(|a| a.strip_prefix('-')).collect();
        Some(match name {
            "nproc" => format!("{CPUS}\n"),
            "arch" => "x86_64\n".to_owned(),
            "free" => format!(
                "               total        used        free      shared  buff/cache   available\n\
                 Mem:     {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}\nSwap:    {:>11} {:>11} {:>11}\n",
                scaled(MEM[0], &flags),
                scaled(MEM[1], &flags),
                scaled(MEM[2], &flags),
                scaled(MEM[3], &flags),
                scaled(MEM[4], &flags),
                scaled(MEM[5], &flags),
                scaled(SWAP[0], &flags),
                scaled(SWAP[1], &flags),
                scaled(SWAP[2], &flags)
            ),
            "df" if flags.contains('h') => "Filesystem      Size  Used Avail Use% Mounted on\n/dev/sda1        39G  8.9G   28G  25% /\n\
                 tmpfs           2.0G     0  2.0G   0% /dev/shm\n"
                .to_owned(),
            "df" => "Filesystem     1K-blocks    Used Available Use% Mounted on\n/dev/sda1       40581564 9318200  29175896  25% /\n\
                 tmpfs            2006608       0   2006608   0% /dev/shm\n"
                .to_owned(),
            "mount" => "/dev/sda1 on / type ext4 (rw,relatime)\nproc on /proc type proc (rw,nosuid,nodev,noexec,relatime)\n\
                 sysfs on /sys type sysfs (rw,nosuid,nodev,noexec,relatime)\ntmpfs on /dev/shm type tmpfs (rw,nosuid,nodev)\n"
                .to_owned(),
            "lsblk" => "NAME   MAJ:MIN RM  SIZE RO TYPE MOUNTPOINTS\nsda      8:0    0   40G  0 disk \n└─sda1   8:1    0 39.9G  0 part /\n".to_owned(),
            "lscpu" => format!(
                "Architecture:            x86_64\n  CPU op-mode(s):        32-bit, 64-bit\n  Byte Order:            Little Endian\n\
                 CPU(s):                  {CPUS}\n  On-line CPU(s) list:   0-{}\nVendor ID:               GenuineIntel\n  \
                 Model name:            Intel(R) Xeon(R) Gold 6230R CPU @ 2.10GHz\n    Thread(s) per core:  1\n    \
                 Core(s) per socket:  {CPUS}\n    Socket(s):           1\nVirtualization features:\n  Hypervisor vendor:     KVM\n",
                CPUS - 1
            ),
            "groups" if self.uid == 0 => "root\n".to_owned(),
            "groups" => format!("{} adm cdrom sudo dip plugdev lxd\n", self.user),
            "sudo" if args == ["-l"] && self.uid == 0 => format!(
                "Matching Defaults entries for root on {}:\n    env_reset, mail_badpass\n\nUser root may run the following commands on {}:\n    (ALL : ALL) ALL\n",
                self.persona.hostname, self.persona.hostname
            ),
            "getent" if args.first() == Some(&"passwd") => self.file("/etc/passwd").unwrap_or_default(),
            "getent" if args.first() == Some(&"group") => self.system_file("/etc/group").unwrap_or_default(),
            "pgrep" | "pidof" => {
                let wanted = args.iter().find(|a| !a.starts_with('-')).copied().unwrap_or("");
                let found: Vec<String> = self
                    .processes()
                    .iter()
                    .filter(|(_, _, command)| !wanted.is_empty() && command.contains(wanted))
                    .map(|(pid, _, _)| pid.to_string())
                    .collect();
                if found.is_empty() {
                    outcome.status = 1;
                    String::new()
                } else if name == "pidof" {
                    format!("{}\n", found.join(" "))
                } else {
                    found.iter().map(|pid| format!("{pid}\n")).collect()
                }
            }
            "top" => {
                let mut out = format!(
                    "top - {}\nTasks: 187 total,   1 running, 186 sleeping,   0 stopped,   0 zombie\n\
                     %Cpu(s):  1.5 us,  0.5 sy,  0.0 ni, 97.9 id,  0.0 wa,  0.0 hi,  0.1 si,  0.0 st\n\
                     MiB Mem :  {:>6.1} total,  {:>6.1} free,  {:>6.1} used,  {:>6.1} buff/cache\n\
                     MiB Swap:  {:>6.1} total,  {:>6.1} free,  {:>6.1} used.  {:>6.1} avail Mem\n\n\
                     \u{20}   PID USER      PR  NI    VIRT    RES    SHR S  %CPU  %MEM     TIME+ COMMAND\n",
                    self.uptime_line().trim_start(),
                    MEM[0] as f64 / 1024.0,
                    MEM[2] as f64 / 1024.0,
                    MEM[1] as f64 / 1024.0,
                    MEM[4] as f64 / 1024.0,
                    SWAP[0] as f64 / 1024.0,
                    SWAP[2] as f64 / 1024.0,
                    SWAP[1] as f64 / 1024.0,
                    MEM[5] as f64 / 1024.0
                );
                for (pid, user, command) in self.processes() {
                    let first = command.split([' ', ':']).next().unwrap_or(&command);
                    let short = first.rsplit('/').next().unwrap_or(first);
                    out.push_str(&format!("{pid:>7} {user:<9} 20   0  167620  11776   8264 S   0.0   0.3   0:09.12 {short}\n"));
                }
                out
            }
            "ss" | "netstat" => {
                let mut out = if name == "ss" {
                    "State   Recv-Q  Send-Q   Local Address:Port    Peer Address:Port  Process\n".to_owned()
                } else {
                    "Active Internet connections (only servers)\nProto Recv-Q Send-Q Local Address           Foreign Address         State\n".to_owned()
                };
                for port in &self.net.view.listening {
                    if name == "ss" {
                        out.push_str(&format!("LISTEN  0       128            0.0.0.0:{port:<5}        0.0.0.0:*\n"));
                    } else {
                        out.push_str(&format!("tcp        0      0 0.0.0.0:{port:<15} 0.0.0.0:*               LISTEN\n"));
                    }
                }
                out
            }
            "systemctl" if args.first().is_some_and(|a| a.starts_with("list-units")) || args.is_empty() => {
                let mut out = "  UNIT                      LOAD   ACTIVE SUB     DESCRIPTION\n".to_owned();
                for (unit, description) in UNITS {
                    out.push_str(&format!("  {unit:<25} loaded active running {description}\n"));
                }
                out.push_str(&format!("\n{} loaded units listed.\n", UNITS.len()));
                out
            }
            "service" if args.first() == Some(&"--status-all") => {
                ["apparmor", "cron", "dbus", "procps", "rsyslog", "ssh", "udev"].iter().map(|s| format!(" [ + ]  {s}\n")).collect()
            }
            "lsb_release" if self.persona.distro.id == "ubuntu" => format!(
                "No LSB modules are available.\nDistributor ID:\tUbuntu\nDescription:\t{}\n",
                self.persona.distro.pretty_name
            ),
            "find" if args.iter().any(|a| a.starts_with("-perm")) => {
                "/usr/bin/passwd\n/usr/bin/sudo\n/usr/bin/mount\n/usr/bin/su\n/usr/bin/umount\n/usr/bin/chsh\n/usr/bin/newgrp\n/usr/bin/gpasswd\n"
                    .to_owned()
            }
            _ => return None,
        })
    }
}
