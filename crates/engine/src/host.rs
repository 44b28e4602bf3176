//! Facts about the host the engine runs on.

use std::collections::BTreeSet;

use decnet_domain::catalogue::Proto;

/// Ports listening on this host, read from `/proc/net` (empty where it is unavailable:
/// the PORT_COLLISION rule it feeds is only a warning).
pub(crate) fn listening_ports() -> Vec<(u16, Proto)> {
    let mut ports = BTreeSet::new();
    for (file, proto, listen_state) in [
        ("/proc/net/tcp", Proto::Tcp, Some("0A")),
        ("/proc/net/tcp6", Proto::Tcp, Some("0A")),
        ("/proc/net/udp", Proto::Udp, None),
        ("/proc/net/udp6", Proto::Udp, None),
    ] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        ports.extend(parse_proc_net(&text, listen_state).into_iter().map(|p| (p, proto)));
    }
    ports.into_iter().collect()
}

/// Local ports of the sockets in a `/proc/net/{tcp,udp}` table, keeping only rows in
/// `state` when given.
fn parse_proc_net(text: &str, state: Option<&str>) -> Vec<u16> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            let local = cols.nth(1)?;
            let row_state = cols.nth(1)?;
            if state.is_some_and(|s| s != row_state) {
                return None;
            }
            let port = local.rsplit(':').next()?;
            u16::from_str_radix(port, 16).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listening_sockets_only() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue\n\
                     0: 0100007F:1F90 00000000:0000 0A 00000000:00000000\n\
                     1: 0100007F:0016 0100007F:D431 01 00000000:00000000\n";
        assert_eq!(parse_proc_net(table, Some("0A")), [8080]);
        assert_eq!(parse_proc_net(table, None), [8080, 22]);
    }
}
