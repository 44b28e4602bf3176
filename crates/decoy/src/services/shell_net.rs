//! The fake shell's network commands, answered by what is really there: `ip a`, `ip
//! route`, `ip neigh`, `arp -a`, `ifconfig` and `hostname -I` show the decky's own
//! namespace ([`NetView`]); `ping`, `nc -z`, `telnet` and `curl`/`wget` of an address
//! inside the maze really connect (bounded, from the decky, so the next decky sees it),
//! and `ssh` asks the session to hop there. Outside the maze ([`Reach`]) nothing is sent:
//! the answer is what a firewalled host would give.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::shell::Outcome;
use crate::netview::NetView;
use crate::routes::Reach;

/// How long a probe or a fetch may take to connect.
const CONNECT: Duration = Duration::from_millis(1500);
/// How long a fetch may take in all.
const FETCH: Duration = Duration::from_secs(10);
/// Largest response a fetch keeps.
const MAX_FETCH: usize = 1 << 20;
/// Most ports one `nc -z` tries.
const MAX_PORTS: usize = 64;

/// What the shell may reach and how its network looks.
#[derive(Debug, Clone)]
pub struct Net {
    /// Where connections may go.
    pub reach: Reach,
    /// The decky's interfaces, routes and neighbours.
    pub view: NetView,
}

/// A login to another decky the session should perform (`ssh user@host`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HopRequest {
    /// The user to log in as.
    pub user: String,
    /// Where.
    pub host: Ipv4Addr,
    /// Its ssh port.
    pub port: u16,
}

/// What a connection attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Port {
    Open,
    /// The host answered with a reset: up, nothing listening.
    Closed,
    /// No answer.
    Filtered,
}

async fn probe(net: &Net, ip: Ipv4Addr, port: u16) -> Port {
    if net.reach.check(ip).await.is_err() {
        return Port::Filtered;
    }
    match tokio::time::timeout(CONNECT, TcpStream::connect(SocketAddr::V4(SocketAddrV4::new(ip, port)))).await {
        Ok(Ok(_)) => Port::Open,
        Ok(Err(err)) if err.kind() == std::io::ErrorKind::ConnectionRefused => Port::Closed,
        _ => Port::Filtered,
    }
}

fn service_name(port: u16) -> &'static str {
    match port {
        21 => "ftp",
        22 => "ssh",
        23 => "telnet",
        25 => "smtp",
        80 => "http",
        443 => "https",
        3306 => "mysql",
        5432 => "postgresql",
        6379 => "redis",
        _ => "*",
    }
}

/// The value after `flag` (`-c 3` or `-c3`).
fn option<'a>(args: &[&'a str], flag: &str) -> Option<&'a str> {
    args.iter().enumerate().find_map(|(i, a)| {
        if *a == flag { args.get(i + 1).copied() } else { a.strip_prefix(flag).filter(|rest| !rest.is_empty()) }
    })
}

/// The first argument that is not an option (nor an option's value among `valued`).
fn operands<'a>(args: &[&'a str], valued: &[&str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut skip = false;
    for arg in args {
        if skip {
            skip = false;
        } else if valued.contains(arg) {
            skip = true;
        } else if !arg.starts_with('-') {
            out.push(*arg);
        }
    }
    out
}

/// Runs `name args` if it is a network command; `None` when it is not one.
pub(super) async fn command(net: &Net, user: &str, name: &str, args: &[&str], outcome: &mut Outcome) -> Option<String> {
    let first = args.first().copied().unwrap_or("");
    Some(match name {
        "ip" if matches!(first, "r" | "ro" | "route") => net.view.ip_route(),
        "ip" if matches!(first, "n" | "neigh" | "neighbor" | "neighbour") => net.view.ip_neigh(),
        "ip" if first.starts_with('a') => net.view.ip_addr(),
        "arp" => net.view.arp_a(),
        "ifconfig" => net.view.ifconfig(),
        "hostname" if first == "-I" => {
            let addresses: Vec<String> = net.view.addresses().iter().map(ToString::to_string).collect();
            format!("{} \n", addresses.join(" "))
        }
        "ping" => ping(net, args, outcome).await,
        "nc" | "ncat" | "netcat" => nc(net, args, outcome).await,
        "telnet" => telnet(net, args, outcome).await,
        "curl" | "wget" => fetch(net, name, args, outcome).await,
        "ssh" => ssh(net, user, args, outcome).await,
        _ => return None,
    })
}

async fn ping(net: &Net, args: &[&str], outcome: &mut Outcome) -> String {
    let Some(host) = operands(args, &["-c", "-i", "-W", "-w", "-s", "-I"]).first().copied() else {
        outcome.status = 2;
        return "ping: usage error: Destination address required\n".into();
    };
    let Ok(ip) = host.parse::<Ipv4Addr>() else {
        outcome.status = 2;
        return format!("ping: {host}: Temporary failure in name resolution\n");
    };
    let count = option(args, "-c").and_then(|c| c.parse::<u32>().ok()).unwrap_or(4).clamp(1, 10);
    let mut out = format!("PING {ip} ({ip}) 56(84) bytes of data.\n");
    let alive = probe(net, ip, 7).await != Port::Filtered;
    if alive {
        for seq in 1..=count {
            out.push_str(&format!("64 bytes from {ip}: icmp_seq={seq} ttl=64 time=0.{:03} ms\n", 40 + seq * 7 % 50));
        }
        out.push_str(&format!(
            "\n--- {ip} ping statistics ---\n{count} packets transmitted, {count} received, 0% packet loss, time {}ms\n\
             rtt min/avg/max/mdev = 0.041/0.063/0.089/0.015 ms\n",
            (count - 1) * 1001
        ));
    } else {
        outcome.status = 1;
        out.push_str(&format!(
            "\n--- {ip} ping statistics ---\n{count} packets transmitted, 0 received, 100% packet loss, time {}ms\n\n",
            (count - 1) * 1001 + 20
        ));
    }
    out
}

/// `22`, `20-25` or `22,80`: the ports, bounded.
fn ports(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in text.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend((a..=b.max(a)).take(MAX_PORTS));
                }
            }
            None => out.extend(part.parse::<u16>().ok()),
        }
    }
    out.truncate(MAX_PORTS);
    out
}

async fn nc(net: &Net, args: &[&str], outcome: &mut Outcome) -> String {
    let targets = operands(args, &["-w", "-p", "-s", "-i", "-q"]);
    let (Some(host), Some(spec)) = (targets.first(), targets.get(1)) else {
        outcome.status = 1;
        return "usage: nc [-46CDdFhklNnrStUuvZz] [-I length] [-i interval] [-M ttl]\n\t  [-m minttl] [-O length] [-P proxy_username] [-p source_port]\n\t  [-q seconds] [-s sourceaddr] [-T keyword] [-V rtable] [-W recvlimit]\n\t  [-w timeout] [-X proxy_protocol] [-x proxy_address[:port]]\n\t  [destination] [port]\n".into();
    };
    let Ok(ip) = host.parse::<Ipv4Addr>() else {
        outcome.status = 1;
        return format!("nc: getaddrinfo for host \"{host}\" port {spec}: Temporary failure in name resolution\n");
    };
    let verbose = args.iter().any(|a| a.starts_with('-') && a.contains('v'));
    let mut out = String::new();
    let mut any_open = false;
    for port in ports(spec) {
        match probe(net, ip, port).await {
            Port::Open => {
                any_open = true;
                if verbose {
                    out.push_str(&format!("Connection to {ip} {port} port [tcp/{}] succeeded!\n", service_name(port)));
                }
            }
            Port::Closed => {
                out.push_str(&format!("nc: connect to {ip} port {port} (tcp) failed: Connection refused\n"))
            }
            Port::Filtered => {
                out.push_str(&format!("nc: connect to {ip} port {port} (tcp) timed out: Operation now in progress\n"))
            }
        }
    }
    if !any_open {
        outcome.status = 1;
    }
    out
}

async fn telnet(net: &Net, args: &[&str], outcome: &mut Outcome) -> String {
    let targets = operands(args, &["-l"]);
    let Some(host) = targets.first() else { return "telnet> ".into() };
    let port = targets.get(1).and_then(|p| p.parse::<u16>().ok()).unwrap_or(23);
    let Ok(ip) = host.parse::<Ipv4Addr>() else {
        outcome.status = 1;
        return format!("telnet: could not resolve {host}/{port}: Temporary failure in name resolution\n");
    };
    let trying = format!("Trying {ip}...\n");
    match probe(net, ip, port).await {
        Port::Open => {
            format!("{trying}Connected to {ip}.\nEscape character is '^]'.\nConnection closed by foreign host.\n")
        }
        Port::Closed => {
            outcome.status = 1;
            format!("{trying}telnet: Unable to connect to remote host: Connection refused\n")
        }
        Port::Filtered => {
            outcome.status = 1;
            format!("{trying}telnet: Unable to connect to remote host: Connection timed out\n")
        }
    }
}

/// `http://host[:port][/path]`: host, port, path.
fn parse_url(url: &str) -> Option<(&str, u16, &str)> {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    if rest.contains("://") {
        return None;
    }
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().ok()?),
        None => (authority, 80),
    };
    Some((host, port, path))
}

/// GETs `path` from `ip:port`; the raw response, bounded.
async fn get(ip: Ipv4Addr, port: u16, host: &str, path: &str, agent: &str) -> Result<Vec<u8>, std::io::Error> {
    let exchange = async {
        let mut stream = TcpStream::connect(SocketAddr::V4(SocketAddrV4::new(ip, port))).await?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {agent}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 || response.len() >= MAX_FETCH {
                break;
            }
            response.extend_from_slice(&chunk[..n.min(MAX_FETCH - response.len())]);
        }
        Ok(response)
    };
    tokio::time::timeout(FETCH, exchange).await.unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

async fn fetch(net: &Net, name: &str, args: &[&str], outcome: &mut Outcome) -> String {
    let url = operands(args, &["-o", "-O", "-H", "-A", "-X", "-d", "-u", "--output"])
        .into_iter()
        .find(|a| a.contains('.') || a.contains("://"));
    let Some(url) = url else {
        outcome.status = if name == "curl" { 2 } else { 1 };
        return if name == "curl" {
            "curl: try 'curl --help' or 'curl --manual' for more information\n".into()
        } else {
            "wget: missing URL\nUsage: wget [OPTION]... [URL]...\n\nTry `wget --help' for more options.\n".into()
        };
    };
    outcome.fetches.push(url.to_owned());
    let parsed = parse_url(url);
    let host =
        parsed.map_or_else(|| url.split("://").last().unwrap_or(url).split(['/', ':']).next().unwrap_or(url), |p| p.0);
    let Some(ip) = host.parse::<Ipv4Addr>().ok() else {
        outcome.status = if name == "curl" { 6 } else { 4 };
        return if name == "curl" {
            format!("curl: (6) Could not resolve host: {host}\n")
        } else {
            format!(
                "--{}--  {url}\nResolving {host} ({host})... failed: Temporary failure in name resolution.\nwget: unable to resolve host address '{host}'\n",
                chrono::Utc::now().format("%Y-%m-%d %H:%M:%S")
            )
        };
    };
    let (port, path) = parsed.map_or((80, "/"), |p| (p.1, p.2));
    let agent = if name == "curl" { "curl/7.81.0" } else { "Wget/1.21.2" };
    let reachable = parsed.is_some() && net.reach.check(ip).await.is_ok();
    let response = if reachable { get(ip, port, host, path, agent).await.ok() } else { None };
    let Some(response) = response else {
        outcome.status = if name == "curl" { 28 } else { 4 };
        return if name == "curl" {
            format!("curl: (28) Failed to connect to {ip} port {port} after 10001 ms: Timeout was reached\n")
        } else {
            format!(
                "--{}--  {url}\nConnecting to {ip}:{port}... failed: Connection timed out.\nRetrying.\n",
                chrono::Utc::now().format("%Y-%m-%d %H:%M:%S")
            )
        };
    };
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    if name == "curl" {
        if args.contains(&"-I") || args.contains(&"--head") {
            format!("{}\n\n", head.replace("\r\n", "\n"))
        } else if args.contains(&"-i") {
            text.replace("\r\n", "\n")
        } else {
            body.to_owned()
        }
    } else {
        let status = head.lines().next().and_then(|l| l.split_once(' ')).map_or("200 OK", |(_, s)| s);
        let file = path.rsplit('/').next().filter(|f| !f.is_empty()).unwrap_or("index.html");
        format!(
            "--{now}--  {url}\nConnecting to {ip}:{port}... connected.\nHTTP request sent, awaiting response... {status}\n\
             Length: {len} [text/html]\nSaving to: ‘{file}’\n\n{file}            100%[===================>]   {len}  --.-KB/s    in 0s\n\n\
             {now} ({len} B/s) - ‘{file}’ saved [{len}/{len}]\n\n",
            now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S"),
            len = body.len()
        )
    }
}

async fn ssh(net: &Net, user: &str, args: &[&str], outcome: &mut Outcome) -> String {
    let targets = operands(args, &["-p", "-l", "-i", "-o", "-F", "-J", "-L", "-R", "-D", "-W", "-c", "-m", "-b", "-E"]);
    let Some(target) = targets.first() else {
        outcome.status = 255;
        return "usage: ssh [-46AaCfGgKkMNnqsTtVvXxYy] [-B bind_interface] [-b bind_address]\n           [-c cipher_spec] [-D [bind_address:]port] [-E log_file] [-e escape_char]\n           [-F configfile] [-I pkcs11] [-i identity_file] [-J destination]\n           [-L address] [-l login_name] [-m mac_spec] [-O ctl_cmd] [-o option]\n           [-P tag] [-p port] [-R address] [-S ctl_path] [-W host:port]\n           [-w local_tun[:remote_tun]] destination [command [argument ...]]\n".into();
    };
    let (login, host) = match target.split_once('@') {
        Some((login, host)) => (login.to_owned(), host),
        None => (option(args, "-l").unwrap_or(user).to_owned(), *target),
    };
    let port = option(args, "-p").and_then(|p| p.parse::<u16>().ok()).unwrap_or(22);
    let Ok(ip) = host.parse::<Ipv4Addr>() else {
        outcome.status = 255;
        return format!("ssh: Could not resolve hostname {host}: Temporary failure in name resolution\n");
    };
    match probe(net, ip, port).await {
        Port::Open => {
            outcome.hop = Some(HopRequest { user: login, host: ip, port });
            String::new()
        }
        Port::Closed => {
            outcome.status = 255;
            format!("ssh: connect to host {ip} port {port}: Connection refused\n")
        }
        Port::Filtered => {
            outcome.status = 255;
            format!("ssh: connect to host {ip} port {port}: Connection timed out\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_port_lists_parse_as_the_tools_read_them() {
        assert_eq!(parse_url("http://10.0.0.5/"), Some(("10.0.0.5", 80, "/")));
        assert_eq!(parse_url("http://10.0.0.5:8080/admin/x.php"), Some(("10.0.0.5", 8080, "/admin/x.php")));
        assert_eq!(parse_url("10.0.0.5"), Some(("10.0.0.5", 80, "/")));
        assert_eq!(parse_url("https://10.0.0.5/"), None);
        assert_eq!(ports("22,80"), [22, 80]);
        assert_eq!(ports("20-23"), [20, 21, 22, 23]);
        assert_eq!(ports("1-65535").len(), MAX_PORTS);
        assert_eq!(option(&["-c", "3", "h"], "-c"), Some("3"));
        assert_eq!(option(&["-c3", "h"], "-c"), Some("3"));
        assert_eq!(operands(&["-p", "2222", "root@h", "id"], &["-p"]), ["root@h", "id"]);
    }
}
