//! The host side of a DMZ on a host interface (macvlan / ipvlan): checking the interface,
//! probing addresses before the maze takes them, and the shim interface through which the
//! host reaches its own deckies (a macvlan or ipvlan parent cannot talk to its children).
//!
//! Done with the host's own tools, as the firewall is: iproute2's `ip` for links,
//! addresses and routes, and iputils' `arping -D` for the probe (RFC 5227 duplicate
//! address detection: an ARP request from 0.0.0.0, so the probe itself claims nothing).
//! Interface names reach these commands only after [`interface_name_ok`] and as single
//! arguments, never through a shell.

use std::net::Ipv4Addr;

use decnet_domain::attachment::interface_name_ok;
use futures_util::StreamExt;
use ipnet::Ipv4Net;

use crate::RuntimeError;
use crate::spec::LinkSpec;

/// What to check before a host-linked DMZ takes addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkProbe {
    /// `macvlan` or `ipvlan`.
    pub driver: &'static str,
    /// The host interface.
    pub interface: String,
    /// The operator's subnet the interface must be on.
    pub subnet: Ipv4Net,
    /// The addresses about to be taken.
    pub addresses: Vec<Ipv4Addr>,
}

/// How many probes run at once (each waits up to a second or so for an answer).
const PROBES_AT_ONCE: usize = 32;

fn link_error(message: String) -> RuntimeError {
    RuntimeError::HostLink(message)
}

async fn run(program: &str, args: &[&str]) -> Result<std::process::Output, RuntimeError> {
    tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .map_err(|e| link_error(format!("{program} cannot run here ({e}); a DMZ on a host interface needs it")))
}

/// Runs `ip ARGS`, failing with its error text.
async fn ip(args: &[&str]) -> Result<(), RuntimeError> {
    let out = run("ip", args).await?;
    if out.status.success() {
        return Ok(());
    }
    Err(RuntimeError::Failed {
        operation: "host link",
        name: format!("ip {}", args.join(" ")),
        message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    })
}

fn exists(interface: &str) -> bool {
    interface_name_ok(interface) && std::path::Path::new("/sys/class/net").join(interface).exists()
}

/// The IPv4 networks configured on `interface` (`ip -j -4 addr show dev IF`).
async fn networks_of(interface: &str) -> Result<Vec<Ipv4Net>, RuntimeError> {
    let out = run("ip", &["-j", "-4", "addr", "show", "dev", interface]).await?;
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let infos = parsed.as_array().into_iter().flatten().filter_map(|link| link.get("addr_info")?.as_array()).flatten();
    Ok(infos
        .filter_map(|info| {
            let local: Ipv4Addr = info.get("local")?.as_str()?.parse().ok()?;
            let prefix = u8::try_from(info.get("prefixlen")?.as_u64()?).ok()?;
            Ipv4Net::new(local, prefix).ok()
        })
        .collect())
}

/// Checks the interface and probes every address of `probe`: the first that answers (or
/// any that is the interface's own) is refused by address.
pub async fn check(probe: &LinkProbe) -> Result<(), RuntimeError> {
    let interface = probe.interface.as_str();
    if !exists(interface) {
        return Err(link_error(format!("host interface {interface:?} does not exist on this host")));
    }
    let networks = networks_of(interface).await?;
    if !networks.is_empty() && !networks.iter().any(|n| probe.subnet.contains(&n.addr())) {
        let on: Vec<String> = networks.iter().map(|n| n.trunc().to_string()).collect();
        return Err(link_error(format!(
            "host interface {interface} is on {}, not on the DMZ's subnet {}",
            on.join(", "),
            probe.subnet
        )));
    }
    check_driver(probe.driver, interface).await?;
    if let Some(own) = networks.iter().find(|n| probe.addresses.contains(&n.addr())) {
        return Err(RuntimeError::AddressInUse {
            address: own.addr(),
            interface: interface.to_owned(),
            by: "this host".into(),
        });
    }
    let probes: Vec<_> = probe.addresses.iter().map(|address| probe_one(interface.to_owned(), *address)).collect();
    let mut results = futures_util::stream::iter(probes).buffer_unordered(PROBES_AT_ONCE);
    while let Some(result) = results.next().await {
        result?;
    }
    Ok(())
}

/// Makes and removes a throwaway link of `driver` on `interface`: a kernel without the
/// driver, or an interface that cannot be a parent, is said before anything is created.
async fn check_driver(driver: &str, interface: &str) -> Result<(), RuntimeError> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let trial = format!("dnp{:x}", (std::process::id() << 8 ^ n) & 0xff_ffff);
    let out = run("ip", &["link", "add", &trial, "link", interface, "type", driver]).await?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        let why = if why.contains("Unknown device type") {
            format!("this host's kernel has no {driver} support")
        } else {
            why
        };
        return Err(link_error(format!("host interface {interface} cannot carry the DMZ ({driver}): {why}")));
    }
    ip(&["link", "del", "dev", &trial]).await
}

/// One duplicate-address probe: an ARP request, and a second for any reply (a neighbour
/// answers in milliseconds; the second bounds what a probe adds to a deploy or live add).
async fn probe_one(interface: String, address: Ipv4Addr) -> Result<(), RuntimeError> {
    let interface = interface.as_str();
    let target = address.to_string();
    let out = run("arping", &["-D", "-c", "1", "-w", "1", "-I", interface, &target]).await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    match out.status.code() {
        Some(0) => Ok(()),
        // iputils arping in DAD mode exits 1 when a reply came: "... reply from A [MAC] ...".
        Some(1) if stdout.contains("reply from") => {
            let mac = stdout.split_once('[').and_then(|(_, rest)| rest.split_once(']')).map(|(mac, _)| mac.trim());
            Err(RuntimeError::AddressInUse {
                address,
                interface: interface.to_owned(),
                by: mac.map_or_else(|| "another host".to_owned(), |m| format!("the host at MAC {}", m.to_lowercase())),
            })
        }
        _ => Err(link_error(format!(
            "arping (iputils) could not probe {address} on {interface}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
    }
}

/// Creates (or repairs) the shim of `link`: the interface, its address and the route to
/// the maze's range through it.
pub async fn ensure_shim(link: &LinkSpec) -> Result<(), RuntimeError> {
    if !exists(&link.parent) {
        return Err(link_error(format!("host interface {:?} does not exist on this host", link.parent)));
    }
    if !exists(&link.shim) {
        let mode: &[&str] =
            if link.driver == "ipvlan" { &["ipvlan", "mode", "l2"] } else { &["macvlan", "mode", "bridge"] };
        let mut args = vec!["link", "add", link.shim.as_str(), "link", link.parent.as_str(), "type"];
        args.extend_from_slice(mode);
        ip(&args).await?;
    }
    let host = format!("{}/32", link.host_address);
    ip(&["addr", "replace", &host, "dev", &link.shim]).await?;
    ip(&["link", "set", "dev", &link.shim, "up"]).await?;
    ip(&["route", "replace", &link.ip_range.to_string(), "dev", &link.shim]).await
}

/// Removes a shim; one that is not there is a success.
pub async fn remove_shim(shim: &str) -> Result<(), RuntimeError> {
    if !exists(shim) {
        return Ok(());
    }
    ip(&["link", "del", "dev", shim]).await
}
