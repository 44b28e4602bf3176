//! Allocators for host IPs inside a LAN and for /24 subnets under a base.
//!
//! Both work on sorted integer intervals and never enumerate a whole address space, so a
//! /16 LAN costs the same as a /24 and the cost grows only with the number of addresses
//! or subnets already taken.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::model::Lan;

/// The default base from which LAN subnets are allocated (one default everywhere).
pub const DEFAULT_SUBNET_BASE: &str = "172.16.0.0/12";

/// The parsed [`DEFAULT_SUBNET_BASE`].
pub fn default_subnet_base() -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::new(172, 16, 0, 0), 12).unwrap_or_default()
}

/// The bridge gateway of a LAN: its first host address (`.1` of a /24).
pub fn gateway(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()).saturating_add(1))
}

/// Whether `ip` is the network, gateway or broadcast address of `subnet`.
pub fn is_reserved(subnet: Ipv4Net, ip: Ipv4Addr) -> bool {
    ip == subnet.network() || ip == subnet.broadcast() || ip == gateway(subnet)
}

/// The addresses deckies may take on `lan`, as inclusive integers: every host address
/// but the gateway on a bridge; on a host link, its range less the host's own address.
pub fn decky_span(lan: &Lan) -> Option<(u32, u32)> {
    match lan.attachment.link() {
        Some(link) => link.decky_span(lan.subnet),
        None => {
            let first = u32::from(gateway(lan.subnet)).checked_add(1)?;
            let last = u32::from(lan.subnet.broadcast()).checked_sub(1)?;
            (first <= last).then_some((first, last))
        }
    }
}

/// Whether a decky may hold `ip` on `lan` (see [`decky_span`]).
pub fn is_decky_address(lan: &Lan, ip: Ipv4Addr) -> bool {
    decky_span(lan).is_some_and(|(first, last)| (first..=last).contains(&u32::from(ip)))
}

/// The lowest host address of `subnet` that is neither reserved nor in `taken`.
///
/// `taken` may hold addresses outside the subnet; they are ignored. Runs in
/// O(k log k) for k taken addresses.
pub fn next_free_ip(subnet: Ipv4Net, taken: impl IntoIterator<Item = Ipv4Addr>) -> Option<Ipv4Addr> {
    let first = u32::from(gateway(subnet)).checked_add(1)?;
    let last = u32::from(subnet.broadcast()).checked_sub(1)?;
    next_free_in(first, last, taken)
}

/// The lowest address of `lan` a decky may take that is not in `taken`.
pub fn next_free_lan_ip(lan: &Lan, taken: impl IntoIterator<Item = Ipv4Addr>) -> Option<Ipv4Addr> {
    let (first, last) = decky_span(lan)?;
    next_free_in(first, last, taken)
}

fn next_free_in(first: u32, last: u32, taken: impl IntoIterator<Item = Ipv4Addr>) -> Option<Ipv4Addr> {
    let mut taken: Vec<u32> = taken.into_iter().map(u32::from).filter(|ip| (first..=last).contains(ip)).collect();
    taken.sort_unstable();
    taken.dedup();
    let mut candidate = first;
    for ip in taken {
        if ip > candidate {
            break;
        }
        candidate = ip.checked_add(1)?;
    }
    (candidate <= last).then(|| Ipv4Addr::from(candidate))
}

/// A cursor that hands out host addresses of one LAN in ascending order, skipping
/// addresses taken before it started. Used where many IPs are allocated in a row.
#[derive(Debug, Clone)]
pub struct IpCursor {
    next: u32,
    last: u32,
    taken: Vec<u32>,
}

impl IpCursor {
    /// A cursor over the host addresses of `subnet` (but its gateway) that skips `taken`.
    pub fn new(subnet: Ipv4Net, taken: impl IntoIterator<Item = Ipv4Addr>) -> Self {
        Self::over(u32::from(gateway(subnet)).saturating_add(1), u32::from(subnet.broadcast()).saturating_sub(1), taken)
    }

    /// A cursor over the addresses deckies may take on `lan` that skips `taken`.
    pub fn for_lan(lan: &Lan, taken: impl IntoIterator<Item = Ipv4Addr>) -> Self {
        let (first, last) = decky_span(lan).unwrap_or((1, 0));
        Self::over(first, last, taken)
    }

    fn over(next: u32, last: u32, taken: impl IntoIterator<Item = Ipv4Addr>) -> Self {
        let mut taken: Vec<u32> = taken.into_iter().map(u32::from).collect();
        taken.sort_unstable();
        taken.dedup();
        taken.reverse();
        Self { next, last, taken }
    }

    /// The next free address, or `None` when the LAN is full.
    pub fn next_ip(&mut self) -> Option<Ipv4Addr> {
        loop {
            if self.next > self.last {
                return None;
            }
            while self.taken.last().is_some_and(|&t| t < self.next) {
                self.taken.pop();
            }
            let candidate = self.next;
            self.next = self.next.saturating_add(1);
            if self.taken.last() == Some(&candidate) {
                self.taken.pop();
                continue;
            }
            return Some(Ipv4Addr::from(candidate));
        }
    }
}

/// Hands out free /24 subnets under a base, skipping anything that overlaps a claimed
/// subnet (of any size). Claimed ranges are merged once; each allocation is amortised O(1).
#[derive(Debug, Clone)]
pub struct SubnetAllocator {
    next: u64,
    end: u64,
    /// Claimed ranges as inclusive `(start, end)`, merged and sorted descending so the
    /// lowest is popped first.
    claimed: Vec<(u64, u64)>,
}

impl SubnetAllocator {
    /// An allocator over `base` (which must be /24 or wider) avoiding `claimed`.
    pub fn new(base: Ipv4Net, claimed: impl IntoIterator<Item = Ipv4Net>) -> Option<Self> {
        if base.prefix_len() > 24 {
            return None;
        }
        let mut ranges: Vec<(u64, u64)> = claimed
            .into_iter()
            .map(|n| (u64::from(u32::from(n.network())), u64::from(u32::from(n.broadcast()))))
            .collect();
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for (start, end) in ranges {
            match merged.last_mut() {
                Some(last) if start <= last.1.saturating_add(1) => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        merged.reverse();
        Some(Self {
            next: u64::from(u32::from(base.network())),
            end: u64::from(u32::from(base.broadcast())),
            claimed: merged,
        })
    }

    /// The next free /24, which is then claimed too.
    pub fn next_subnet(&mut self) -> Option<Ipv4Net> {
        loop {
            let start = self.next;
            let end = start + 255;
            if end > self.end {
                return None;
            }
            while self.claimed.last().is_some_and(|&(_, e)| e < start) {
                self.claimed.pop();
            }
            match self.claimed.last() {
                Some(&(s, e)) if s <= end => {
                    // Overlaps a claimed range: jump past it, aligned up to the next /24.
                    self.next = (e + 1).div_ceil(256) * 256;
                }
                _ => {
                    self.next = end + 1;
                    let network = Ipv4Addr::from(u32::try_from(start).ok()?);
                    return Ipv4Net::new(network, 24).ok();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn first_free_ip_skips_network_and_gateway() {
        assert_eq!(next_free_ip(net("10.0.0.0/24"), []), Some(ip("10.0.0.2")));
    }

    #[test]
    fn next_free_ip_fills_holes_and_never_returns_broadcast() {
        let subnet = net("10.0.0.0/29"); // hosts .1-.6, .1 is the gateway
        assert_eq!(next_free_ip(subnet, [ip("10.0.0.2"), ip("10.0.0.4")]), Some(ip("10.0.0.3")));
        let full = (2..=6).map(|h| Ipv4Addr::new(10, 0, 0, h));
        assert_eq!(next_free_ip(subnet, full), None);
    }

    #[test]
    fn a_slash_16_is_cheap() {
        let subnet = net("10.1.0.0/16");
        let taken: Vec<_> = (2..=300u32).map(|h| Ipv4Addr::from(u32::from(ip("10.1.0.0")) + h)).collect();
        assert_eq!(next_free_ip(subnet, taken), Some(ip("10.1.1.45")));
    }

    #[test]
    fn cursor_skips_taken_addresses() {
        let mut cursor = IpCursor::new(net("10.0.0.0/29"), [ip("10.0.0.3")]);
        let got: Vec<_> = std::iter::from_fn(|| cursor.next_ip()).collect();
        assert_eq!(got, [ip("10.0.0.2"), ip("10.0.0.4"), ip("10.0.0.5"), ip("10.0.0.6")]);
    }

    #[test]
    fn reserved_addresses() {
        let subnet = net("10.0.0.0/24");
        assert!(is_reserved(subnet, ip("10.0.0.0")));
        assert!(is_reserved(subnet, ip("10.0.0.1")));
        assert!(is_reserved(subnet, ip("10.0.0.255")));
        assert!(!is_reserved(subnet, ip("10.0.0.2")));
    }

    #[test]
    fn subnets_skip_overlapping_claims_of_any_size() {
        let claimed = [net("172.16.0.0/24"), net("172.16.1.128/25"), net("172.16.4.0/22")];
        let mut alloc = SubnetAllocator::new(net("172.16.0.0/12"), claimed).unwrap();
        let got: Vec<_> = (0..4).filter_map(|_| alloc.next_subnet()).collect();
        assert_eq!(got, [net("172.16.2.0/24"), net("172.16.3.0/24"), net("172.16.8.0/24"), net("172.16.9.0/24")]);
    }

    #[test]
    fn subnet_pool_exhausts() {
        let mut alloc = SubnetAllocator::new(net("10.0.0.0/23"), [net("10.0.1.0/24")]).unwrap();
        assert_eq!(alloc.next_subnet(), Some(net("10.0.0.0/24")));
        assert_eq!(alloc.next_subnet(), None);
        assert!(SubnetAllocator::new(net("10.0.0.0/25"), []).is_none());
    }
}
