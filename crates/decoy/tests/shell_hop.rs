//! Moving through the maze from the fake shell, as a person at the keyboard would (the
//! real OpenSSH client on a pseudo-terminal): `curl` of a decky's address prints its
//! page, `ssh user@host` with the right password lands in that decky's own shell and
//! `exit` comes back, and the hop is recorded so it joins the attacker's path. The maze is
//! loopback (`--reach`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Decoy, QUIET, drive, loopback};
use serde_json::json;

#[test]
fn ssh_from_the_shell_lands_in_the_next_deckys_shell_and_exit_comes_back() {
    let mut inner = Decoy::start("ssh", &format!("{}:0", loopback()), None, &[("DECNET_HOSTNAME", "db02")]);
    let web = Decoy::start("http", &format!("{}:0", loopback()), None, &[]);
    let reach = format!("{}/32,{}/32", inner.addr.ip(), web.addr.ip());
    let mut gate = Decoy::start_with_args("ssh", &format!("{}:0", loopback()), None, &[], &["--reach", &reach]);
    let mut args: Vec<String> = QUIET.iter().map(|s| (*s).to_owned()).collect();
    args.extend(["-tt", "-o", "PreferredAuthentications=password", "-p"].map(String::from));
    args.push(gate.addr.port().to_string());
    args.push(format!("root@{}", gate.addr.ip()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let here = "root@decky-007:~# ";
    let steps = json!([
        ["password: ", "admin\r"],
        [here, format!("curl http://{}/\r", web.addr)],
        [here, format!("ssh root@{} -p {}\r", inner.addr.ip(), inner.addr.port())],
        ["password: ", "wrong\r"],
        [here, format!("ssh root@{} -p {}\r", inner.addr.ip(), inner.addr.port())],
        ["password: ", "admin\r"],
        ["root@db02:~# ", "hostname\r"],
        ["root@db02:~# ", "exit\r"],
        [here, "hostname\r"],
        [here, "exit\r"]
    ]);
    let (code, said) = drive(steps, "ssh", &args);
    assert_eq!(code, Some(0), "every expected text came: {said}");
    assert!(said.contains("<html") || said.contains("<!DOCTYPE"), "curl printed the page: {said}");
    assert!(said.contains("Permission denied (publickey,password)"), "a wrong password is refused: {said}");
    assert!(said.contains(&format!("Connection to {} closed.", inner.addr.ip())), "{said}");
    let after = said.rsplit_once("closed.").unwrap().1;
    assert!(after.contains("decky-007\r\n") || after.contains("decky-007\n"), "back home: {said}");
    // The far decky saw the login come from the hop's recorded source.
    let hop = gate.wait_kind("tunnel", |e| e["details"]["via"] == "shell" && e["details"]["outcome"] == "open");
    let login = inner.wait_kind("auth_attempt", |e| e["details"]["outcome"] == "success");
    let source = format!("{}:{}", login["src_ip"].as_str().unwrap(), login["src_port"]);
    assert_eq!(hop["details"]["from"].as_str(), Some(source.as_str()));
    assert_eq!(hop["details"]["user"], "root");
    gate.wait_kind("tunnel", |e| e["details"]["via"] == "shell" && e["details"]["tunnel"] == "close");
}
