//! What veim takes as a node's address, wherever one is given: the
//! Secretariat's in `config.toml` (and `veim init --secretariat-addr`), a
//! node's `listen` and `announce` addresses, and the addresses a
//! registration asks the Secretariat to list.
//!
//! The swarm speaks TCP only, and resolves DNS names through the system's
//! resolver configuration (`/etc/resolv.conf`, `/etc/hosts`) when it dials.
//! So a dialable address is a host (`/ip4`, `/ip6`, or a name: `/dns`,
//! `/dns4`, `/dns6`) and a TCP port, and nothing else: an address libp2p
//! parses but the swarm could never dial (`/udp/…`, `/dnsaddr/…`, a port 0,
//! a name with a space) is refused here, where the operator typed it, with
//! what to write instead. A listen address is an IP address of this
//! machine: a name is for others to dial (`announce`).

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;

/// Longest DNS name (RFC 1035, without the final dot).
const MAX_NAME: usize = 253;
/// Longest label of a DNS name.
const MAX_LABEL: usize = 63;

/// Why an address cannot be used. Each names the address as it was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    #[error(
        "{address:?} is not a multiaddr ({reason}); write e.g. /ip4/192.0.2.7/tcp/7040 or /dns4/veim.example.org/tcp/7040"
    )]
    NotMultiaddr { address: String, reason: String },
    #[error(
        "{address:?} does not start with a host: write /ip4/<address>, /ip6/<address>, /dns4/<name>, /dns6/<name> or /dns/<name>, then /tcp/<port>"
    )]
    NoHost { address: String },
    #[error("{address:?}: {name:?} is not a DNS name ({why})")]
    BadName { address: String, name: String, why: String },
    #[error("{address:?} has no TCP port: veim nodes speak TCP; add /tcp/<port>, e.g. /tcp/7040")]
    NoTcpPort { address: String },
    #[error("{address:?} has port 0, which no node can dial: give the port the node listens on")]
    PortZero { address: String },
    #[error(
        "{address:?}: nothing may follow /tcp/<port> (here {rest}); the node's key is given apart from its address"
    )]
    Trailing { address: String, rest: String },
    #[error(
        "listen address {address:?} is a DNS name: listen on an IP address of this machine (/ip4/0.0.0.0/tcp/<port> for all), and give the name in `announce` (veim init --announce) for other nodes to dial"
    )]
    NameToListen { address: String },
}

/// An address another node can dial: `/<ip4|ip6|dns|dns4|dns6>/<host>/tcp/<port>`
/// with a port other than 0.
pub fn dialable(address: &str) -> Result<Multiaddr, AddressError> {
    let (addr, port) = host_and_port(address)?;
    if port == 0 {
        return Err(AddressError::PortZero { address: address.to_string() });
    }
    Ok(addr)
}

/// An address this node can listen on: `/<ip4|ip6>/<ip>/tcp/<port>`, where
/// port 0 lets the system pick one.
pub fn listenable(address: &str) -> Result<Multiaddr, AddressError> {
    let (addr, _) = host_and_port(address)?;
    if dns_name(&addr).is_some() {
        return Err(AddressError::NameToListen { address: address.to_string() });
    }
    Ok(addr)
}

/// The DNS name an address dials, if it names its host by one.
pub fn dns_name(addr: &Multiaddr) -> Option<String> {
    match addr.iter().next()? {
        Protocol::Dns(name) | Protocol::Dns4(name) | Protocol::Dns6(name) => Some(name.into_owned()),
        _ => None,
    }
}

fn host_and_port(address: &str) -> Result<(Multiaddr, u16), AddressError> {
    let addr: Multiaddr = address.parse().map_err(|e: libp2p::multiaddr::Error| AddressError::NotMultiaddr {
        address: address.to_string(),
        reason: e.to_string(),
    })?;
    let mut parts = addr.iter();
    match parts.next() {
        Some(Protocol::Ip4(_) | Protocol::Ip6(_)) => {}
        Some(Protocol::Dns(name) | Protocol::Dns4(name) | Protocol::Dns6(name)) => {
            check_name(&name).map_err(|why| AddressError::BadName {
                address: address.to_string(),
                name: name.to_string(),
                why,
            })?;
        }
        _ => return Err(AddressError::NoHost { address: address.to_string() }),
    }
    let Some(Protocol::Tcp(port)) = parts.next() else {
        return Err(AddressError::NoTcpPort { address: address.to_string() });
    };
    let rest: Multiaddr = parts.collect();
    if !rest.is_empty() {
        return Err(AddressError::Trailing { address: address.to_string(), rest: rest.to_string() });
    }
    Ok((addr, port))
}

/// A host name as resolvers take it: dot-separated labels of ASCII letters,
/// digits and hyphens (not at either end of a label), one final dot allowed.
fn check_name(name: &str) -> Result<(), String> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.is_empty() {
        return Err("it is empty".into());
    }
    if bare.len() > MAX_NAME {
        return Err(format!("longer than {MAX_NAME} characters"));
    }
    for label in bare.split('.') {
        if label.is_empty() {
            return Err("two dots in a row".into());
        }
        if label.len() > MAX_LABEL {
            return Err(format!("the label {label:?} is longer than {MAX_LABEL} characters"));
        }
        if let Some(c) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
            return Err(format!(
                "{c:?} is not allowed: letters, digits, '-' and '.' only (write an internationalised name in its xn-- form)"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("the label {label:?} starts or ends with '-'"));
        }
    }
    Ok(())
}

/// Whether a DNS name means this machine to whoever resolves it
/// (`localhost` and the names under it, RFC 6761), as a loopback IP does.
pub fn names_loopback(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_by_ip_or_by_name_with_a_tcp_port_are_dialable() {
        for good in [
            "/ip4/192.0.2.7/tcp/7040",
            "/ip6/2001:db8::7/tcp/7040",
            "/dns4/veim.example.org/tcp/7040",
            "/dns6/veim.example.org./tcp/7040",
            "/dns/localhost/tcp/1",
            "/dns4/xn--bcher-kva.example/tcp/7040",
        ] {
            assert!(dialable(good).is_ok(), "{good}");
        }
        assert_eq!(
            dns_name(&dialable("/dns4/veim.example.org/tcp/7040").expect("dialable")),
            Some("veim.example.org".into())
        );
        assert_eq!(dns_name(&dialable("/ip4/192.0.2.7/tcp/7040").expect("dialable")), None);
    }

    #[test]
    fn what_the_swarm_cannot_dial_is_refused_saying_what_to_write() {
        let refused = |a: &str| dialable(a).expect_err(a);
        assert!(matches!(refused("dns4/veim.example.org/tcp/7040"), AddressError::NotMultiaddr { .. }));
        assert!(matches!(refused("/tcp/7040"), AddressError::NoHost { .. }));
        assert!(matches!(refused("/dnsaddr/veim.example.org"), AddressError::NoHost { .. }));
        assert!(matches!(refused("/dns4/veim.example.org"), AddressError::NoTcpPort { .. }));
        assert!(matches!(refused("/ip4/192.0.2.7/udp/7040"), AddressError::NoTcpPort { .. }));
        assert!(matches!(refused("/dns4/veim.example.org/tcp/0"), AddressError::PortZero { .. }));
        assert!(matches!(refused("/ip4/192.0.2.7/tcp/7040/ws"), AddressError::Trailing { .. }));
        for name in ["veim example.org", "veim..example.org", "-veim.example.org", "véim.example.org", "a_b.org"] {
            let e = refused(&format!("/dns4/{name}/tcp/7040"));
            assert!(matches!(e, AddressError::BadName { .. }), "{name}: {e}");
            assert!(e.to_string().contains(name), "{e}");
        }
        let e = refused(&format!("/dns4/{}.org/tcp/7040", "a".repeat(64)));
        assert!(e.to_string().contains("longer than 63"), "{e}");
    }

    #[test]
    fn a_node_listens_on_an_ip_address_and_a_name_is_for_announce() {
        assert!(listenable("/ip4/0.0.0.0/tcp/0").is_ok());
        assert!(listenable("/ip6/::/tcp/7040").is_ok());
        let e = listenable("/dns4/veim.example.org/tcp/7040").expect_err("a name");
        assert!(matches!(e, AddressError::NameToListen { .. }));
        assert!(e.to_string().contains("announce"), "{e}");
    }

    #[test]
    fn localhost_and_the_names_under_it_name_this_machine() {
        assert!(names_loopback("localhost"));
        assert!(names_loopback("LocalHost."));
        assert!(names_loopback("veim.localhost"));
        assert!(!names_loopback("localhost.example.org"));
        assert!(!names_loopback("notlocalhost"));
    }
}
