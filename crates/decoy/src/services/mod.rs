//! The decoy services, one module each with the same shape: a struct built from the
//! persona and the checked config, a `parse` function for its framing (unit- and
//! fuzz-tested), and a [`Decoy`] impl that serves one connection.
//!
//! Every catalogue service with ports has a decoy here; asking for one that has none (or
//! whose setup fails, such as an operator's certificate that does not parse) is an error
//! the binary reports before serving anything.

pub mod conpot;
pub mod dns;
pub mod docker_api;
pub mod elasticsearch;
pub mod ftp;
pub mod http;
pub mod imap;
pub mod k8s;
pub mod ldap;
pub mod llmnr;
mod mailbox;
pub mod mongodb;
pub mod mqtt;
pub mod mssql;
pub mod mysql;
pub mod pop3;
pub mod postgres;
pub mod rdp;
pub mod redis;
pub mod shell;
pub mod shell_net;
pub mod sip;
pub mod smb;
pub mod smtp;
pub mod snmp;
pub mod sql;
pub mod ssh;
pub mod telnet;
pub mod tftp;
pub mod vnc;

use std::net::SocketAddr;
use std::sync::Arc;

use decnet_domain::catalogue::Service;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinSet;

use crate::config::Config;
use crate::event::{Fields, Kind, Recorder};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End, Limits, run_tcp};

/// Sockets a decoy serves.
#[derive(Debug, Default)]
pub struct Sockets {
    /// TCP listeners.
    pub tcp: Vec<TcpListener>,
    /// UDP sockets (each UDP service runs its own datagram loop).
    pub udp: Vec<UdpSocket>,
}

/// The logins breadcrumbs on other deckies name for this service (`DECNET_ACCOUNTS`, set
/// by the engine per service): user and password pairs this decoy accepts.
pub fn lure_accounts() -> Vec<(String, String)> {
    let accounts: Vec<decnet_domain::lures::Account> =
        std::env::var("DECNET_ACCOUNTS").ok().and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default();
    accounts.into_iter().map(|a| (a.user, a.password)).collect()
}

/// Serves `service` on `sockets` until `stop` turns true; an error, before anything is
/// served, if the service has no decoy or its decoy cannot be set up.
pub async fn serve(
    service: &'static Service,
    persona: &Persona,
    config: &Config,
    sockets: Sockets,
    recorder: Recorder,
    limits: Limits,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), String> {
    let limits = Arc::new(limits);
    let setup = |err: crate::tls::TlsError| format!("{}: {err}", service.name);
    let mut tasks = JoinSet::new();
    // UDP: one task per socket, each service's datagram loop.
    for socket in sockets.udp {
        let (recorder, shutdown) = (recorder.clone(), stopped(stop.clone()));
        match service.name {
            "conpot" => {
                // The PLC's own agent: MIB-II with its system group (the snmp keys keep their defaults).
                let (plc, persona) = (conpot::Conpot::new(persona, config), persona.clone());
                let make = move |view: &_| plc.snmp(snmp::Snmp::new(&persona, &Config::default(), view));
                tasks.spawn(snmp::run(make, socket, recorder, shutdown));
            }
            "dns" => {
                tasks.spawn(dns::run_udp(Arc::new(dns::Dns::new(persona, config)), socket, recorder, shutdown));
            }
            "llmnr" => {
                tasks.spawn(llmnr::run(socket, recorder, shutdown));
            }
            "sip" => {
                tasks.spawn(sip::run_udp(Arc::new(sip::Sip::new(persona, config)), socket, recorder, shutdown));
            }
            "snmp" => {
                let (persona, config) = (persona.clone(), config.clone());
                let make = move |view: &_| snmp::Snmp::new(&persona, &config, view);
                tasks.spawn(snmp::run(make, socket, recorder, shutdown));
            }
            "tftp" => {
                tasks.spawn(tftp::run(tftp::Tftp::new(persona, config), socket, recorder, shutdown));
            }
            name => return Err(format!("no UDP decoy for service {name}")),
        }
    }
    macro_rules! run {
        ($decoy:expr) => {
            spawn_tcp(&mut tasks, Arc::new($decoy), sockets.tcp, &recorder, &limits, &stop)
        };
    }
    // TCP: the UDP-only services (llmnr, snmp, tftp) have no listener here.
    if !sockets.tcp.is_empty() {
        match service.name {
            "conpot" => run!(conpot::Conpot::new(persona, config)),
            "dns" => run!(dns::Dns::new(persona, config)),
            "docker_api" => run!(docker_api::DockerApi::new(persona, config)),
            "elasticsearch" => run!(elasticsearch::Elasticsearch::new(persona, config)),
            "ftp" => run!(ftp::Ftp::new(persona, config)),
            "http" => run!(http::Http::new(persona, config)),
            "https" => run!(http::Https::new(persona, config).map_err(setup)?),
            "imap" => run!(imap::Imap::new(persona, config)),
            "k8s" => run!(k8s::K8s::new(persona, config).map_err(setup)?),
            "ldap" => run!(ldap::Ldap::new(persona, config)),
            "mongodb" => run!(mongodb::Mongodb::new(persona, config)),
            "mqtt" => run!(mqtt::Mqtt::new(persona, config)),
            "mssql" => run!(mssql::Mssql::new(persona, config).map_err(setup)?),
            "mysql" => run!(mysql::Mysql::new(persona, config)),
            "pop3" => run!(pop3::Pop3::new(persona, config)),
            "postgres" => run!(postgres::Postgres::new(persona, config)),
            "rdp" => run!(rdp::Rdp::new(persona, config).map_err(setup)?),
            "redis" => run!(redis::Redis::new(persona, config)),
            "sip" => run!(sip::Sip::new(persona, config)),
            "smb" => run!(smb::Smb::new(persona, config)),
            "smtp" => run!(smtp::Smtp::new(persona, config)),
            "smtp_relay" => run!(smtp::Smtp::open_relay(persona, config)),
            "telnet" => run!(telnet::Telnet::new(persona, config)),
            "vnc" => run!(vnc::Vnc::new(persona, config)),
            "ssh" => run!(ssh::Ssh::new(persona, config, &limits)),
            name => return Err(format!("no decoy for service {name}")),
        }
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

fn spawn_tcp<D: Decoy>(
    tasks: &mut JoinSet<()>,
    decoy: Arc<D>,
    listeners: Vec<TcpListener>,
    recorder: &Recorder,
    limits: &Arc<Limits>,
    stop: &tokio::sync::watch::Receiver<bool>,
) {
    for listener in listeners {
        let (decoy, recorder, limits, stop) = (decoy.clone(), recorder.clone(), limits.clone(), stop.clone());
        tasks.spawn(async move { run_tcp(listener, decoy, recorder, limits, stopped(stop)).await });
    }
}

/// Whether a command line of a text protocol (smtp, ftp) carries bytes no client sends:
/// NUL and other controls. Such a line is a protocol violation.
fn binary(line: &[u8]) -> bool {
    line.iter().any(|&b| b < 0x20 && b != b'\t')
}

/// One command line of a text protocol (smtp, ftp).
pub(crate) struct CommandLine {
    /// The line as sent.
    pub line: Vec<u8>,
    /// Its first word, upper-cased.
    pub verb: String,
    /// The rest after the first space, as sent.
    pub argument: String,
}

/// Reads the next command line of a text protocol and records it as a `command` event,
/// except when its verb is one of `secret_verbs` (the service records those as attempts). A line
/// with control bytes is recorded as a violation and answered with `reject`: `Ok(None)`,
/// read the next.
pub(crate) async fn command_line(
    conn: &mut Conn,
    reject: &[u8],
    secret_verbs: &[&str],
) -> Result<Option<CommandLine>, End> {
    let line = conn.line().await?;
    if binary(&line) {
        conn.violation("non-printable bytes in a command").await;
        conn.write(reject).await?;
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&line);
    let (verb, argument) = match text.split_once(' ') {
        Some((verb, rest)) => (verb.to_ascii_uppercase(), rest.to_owned()),
        None => (text.trim().to_ascii_uppercase(), String::new()),
    };
    if !secret_verbs.contains(&verb.as_str()) {
        conn.log.record(Kind::Command, Fields::default().command(&line).detail("verb", verb.as_str())).await;
    }
    Ok(Some(CommandLine { line, verb, argument }))
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Binds what `--listen` asks for: one port for `IP:PORT` (UDP for a UDP-only service, else
/// TCP), else every catalogue port of the service (TCP and UDP) on `IP`.
pub async fn bind(service: &'static Service, listen: &str) -> Result<Sockets, String> {
    let mut sockets = Sockets::default();
    if let Ok(addr) = listen.parse::<SocketAddr>() {
        // One explicit port: UDP for a service that speaks UDP only (snmp, tftp, ...).
        if service.tcp_ports.is_empty() && !service.udp_ports.is_empty() {
            sockets.udp.push(UdpSocket::bind(addr).await.map_err(|e| format!("cannot bind {addr}/udp: {e}"))?);
        } else {
            sockets.tcp.push(TcpListener::bind(addr).await.map_err(|e| format!("cannot bind {addr}/tcp: {e}"))?);
        }
        return Ok(sockets);
    }
    let ip: std::net::IpAddr = listen.parse().map_err(|_| format!("--listen {listen}: expected IP or IP:PORT"))?;
    for &port in service.tcp_ports {
        let addr = SocketAddr::new(ip, port);
        sockets.tcp.push(TcpListener::bind(addr).await.map_err(|e| format!("cannot bind {addr}/tcp: {e}"))?);
    }
    for &port in service.udp_ports {
        let addr = SocketAddr::new(ip, port);
        sockets.udp.push(UdpSocket::bind(addr).await.map_err(|e| format!("cannot bind {addr}/udp: {e}"))?);
    }
    if sockets.tcp.is_empty() && sockets.udp.is_empty() {
        return Err(format!("service {} has no ports to listen on", service.name));
    }
    Ok(sockets)
}
