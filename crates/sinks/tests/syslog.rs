//! The syslog sink against a real rsyslog (Debian's, started here on loopback with a
//! configuration of its own): RFC 5424 over UDP, octet-counted over TCP, and over TLS
//! with a test CA; rsyslog parses each message (its MSGID, structured data and message).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use decnet_sinks::{Config, SinkConfig};

/// A running rsyslogd, killed on drop (also when the test fails).
struct Rsyslog {
    child: Child,
    dir: tempfile::TempDir,
    udp: u16,
    tcp: u16,
    tls: u16,
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA and a certificate for 127.0.0.1 it signed, as PEM files in `dir`.
fn test_ca(dir: &Path) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "decnet test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let server = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let issuer = rcgen::Issuer::from_params(&ca, &ca_key);
    let cert = server.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
}

fn read_port(file: &Path, deadline: Instant) -> u16 {
    loop {
        if let Some(port) = std::fs::read_to_string(file).ok().and_then(|t| t.trim().parse().ok()) {
            return port;
        }
        assert!(Instant::now() < deadline, "rsyslog did not write {}", file.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Rsyslog {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        test_ca(dir.path());
        // imudp cannot report a port it chose: take a free one and hand it over.
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let d = dir.path().display();
        let config = format!(
            r#"global(workDirectory="{d}" maxMessageSize="64k"
  defaultNetstreamDriverCAFile="{d}/ca.pem" defaultNetstreamDriverCertFile="{d}/cert.pem"
  defaultNetstreamDriverKeyFile="{d}/key.pem")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="{udp}" ruleset="out")
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="{d}/tcp.port" ruleset="out")
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="{d}/tls.port" ruleset="out"
  streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
template(name="parsed" type="string" string="%msgid% %app-name% %structured-data% %msg%\n")
ruleset(name="out") {{ action(type="omfile" file="{d}/out.log" template="parsed") }}
"#
        );
        std::fs::write(dir.path().join("rsyslog.conf"), config).unwrap();
        let child = Command::new("rsyslogd")
            .args(["-n", "-f"])
            .arg(dir.path().join("rsyslog.conf"))
            .arg("-i")
            .arg(dir.path().join("rsyslog.pid"))
            .spawn()
            .expect("rsyslogd (Debian's rsyslog, installed by scripts/test-deps.sh)");
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut rsyslog = Self { child, dir, udp, tcp: 0, tls: 0 };
        rsyslog.tcp = read_port(&rsyslog.dir.path().join("tcp.port"), deadline);
        rsyslog.tls = read_port(&rsyslog.dir.path().join("tls.port"), deadline);
        rsyslog
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Waits (up to 20 s) for a logged line containing `text`.
    fn line_with(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = std::fs::read_to_string(self.path("out.log")).unwrap_or_default();
            if let Some(line) = log.lines().find(|l| l.contains(text)) {
                return line.to_owned();
            }
            assert!(Instant::now() < deadline, "rsyslog never logged {text:?}; it has:\n{log}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn sink(yaml: &str) -> SinkConfig {
    Config::parse(Path::new("test.yaml"), &format!("sinks:\n  - name: siem\n{yaml}")).unwrap().sinks.remove(0)
}

#[tokio::test]
async fn rsyslog_receives_and_parses_rfc5424_over_udp_tcp_and_tls() {
    let rsyslog = Rsyslog::start();
    let ca = rsyslog.path("ca.pem").display().to_string();
    let transports = [
        (1, format!("    syslog: {{ transport: udp, address: \"127.0.0.1:{}\" }}\n", rsyslog.udp)),
        (2, format!("    syslog: {{ transport: tcp, address: \"127.0.0.1:{}\" }}\n", rsyslog.tcp)),
        (3, format!("    syslog: {{ transport: tls, address: \"127.0.0.1:{}\", ca: {ca:?} }}\n", rsyslog.tls)),
    ];
    for (id, yaml) in &transports {
        let mut syslog = decnet_sinks::open(&sink(yaml)).unwrap();
        let mut event = common::event(*id);
        // An attacker's newline and bracket stay inside their fields.
        event.payload["principal"] = format!("root\n]evil{id}").into();
        syslog.deliver(&[event, common::event(id + 100)]).await.unwrap();
        let line = rsyslog.line_with(&format!("id=\"{id}\""));
        assert!(line.starts_with("auth_attempt decnet [decnet@32473 "), "{line}");
        assert!(line.contains(r#"decky="web01""#) && line.contains(r#"src="203.0.113.7""#), "{line}");
        assert!(line.contains(r#""principal":"root\n]evil"#), "the message is the payload's JSON, escaped: {line}");
        // Two messages in one batch arrive as two (framing holds).
        rsyslog.line_with(&format!("id=\"{}\"", id + 100));
    }

    // A receiver whose certificate the CA did not sign is refused.
    let other = tempfile::tempdir().unwrap();
    test_ca(other.path());
    let yaml = format!(
        "    syslog: {{ transport: tls, address: \"127.0.0.1:{}\", ca: {:?} }}\n",
        rsyslog.tls,
        other.path().join("ca.pem").display().to_string()
    );
    let mut untrusted = decnet_sinks::open(&sink(&yaml)).unwrap();
    let err = untrusted.deliver(&[common::event(9)]).await.unwrap_err().to_string();
    assert!(err.contains("TLS"), "{err}");
}
