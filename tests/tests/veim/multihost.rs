//! Nodes on machines of their own: each node process runs in a network
//! namespace with its own address on a LAN, and finds the others by DNS
//! names that its own hosts file gives (the system's resolver
//! configuration, as on a real machine); one sits behind a router that
//! forwards its port and announces the router's public address. Needs
//! root (see `veim_tests::netns`).

use std::path::{Path, PathBuf};
use std::time::Duration;
use veim_node::api::{ApproveRequest, DirectoryListing, MessageView, PendingView, SendRequest, StatusView};
use veim_node::home::config::{Config, Role, SecretariatPin};
use veim_node::home::init_home;
use veim_tests::netns::{Lan, in_namespace};
use veim_tests::{NodeProcess, example_request, keys_of, wait_for};
use veim_tools::AdminClient;

const NODE: &str = env!("CARGO_BIN_EXE_veim-test-node");
const PORT: u16 = 7040;

/// A node's configuration on its own machine: it listens on every
/// interface, and short periods keep the test quick.
fn config(role: Role, state: Option<&str>, listen: String, announce: Vec<String>) -> anyhow::Result<Config> {
    Ok(Config {
        role,
        state: state.map(str::parse).transpose()?,
        operator: format!("{} authority", state.unwrap_or("ATT Secretariat")),
        listen: vec![listen],
        announce,
        admin_listen: "127.0.0.1:0".into(),
        directory_poll_secs: 1,
        retry_base_secs: 1,
        retry_max_secs: 2,
        // The LAN is a private range.
        private_addresses: true,
        ..Config::default()
    })
}

/// Polls `check` with the admin client of the node in `home`, from inside
/// its host's namespace.
async fn on_host<T: Send>(
    what: &str,
    namespace: &str,
    home: &Path,
    check: impl Fn(&AdminClient) -> Option<T> + Send + Sync,
) -> anyhow::Result<T> {
    wait_for(what, Duration::from_secs(30), || {
        in_namespace(namespace, || AdminClient::for_home(home).ok().and_then(|api| check(&api))).ok().flatten()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_on_separate_hosts_find_each_other_by_name_one_behind_a_port_forward() -> anyhow::Result<()> {
    // Dropped last: the node processes stop before their hosts go.
    let mut lan = Lan::new(&["directory.veim.test", "mex.veim.test"])?;
    // SWE's node has a private address; the router at swe.veim.test
    // forwards the port to it, and SWE announces that public name.
    let swe_host = lan.behind_port_forward("swe.veim.test", "node.swe.internal", PORT)?;
    let dir = tempfile::Builder::new().prefix("veim-test-").tempdir()?;
    let (sec_host, mex_host) = (lan.host("directory.veim.test"), lan.host("mex.veim.test"));

    let sec_home = dir.path().join("secretariat");
    let sec_keys =
        init_home(&sec_home, &config(Role::Secretariat, None, format!("/ip4/{}/tcp/{PORT}", sec_host.ip), vec![])?)?;
    let mut homes: Vec<(PathBuf, &str, &str)> = Vec::new();
    for (state, host, public) in [("MEX", mex_host, "mex.veim.test"), ("SWE", &swe_host, "swe.veim.test")] {
        let home = dir.path().join(state.to_ascii_lowercase());
        let mut c = config(
            Role::National,
            Some(state),
            format!("/ip4/0.0.0.0/tcp/{PORT}"),
            vec![format!("/dns4/{public}/tcp/{PORT}")],
        )?;
        c.secretariat = Some(SecretariatPin {
            public_key: sec_keys.identity.public().to_string(),
            address: format!("/dns4/{}/tcp/{PORT}", sec_host.name),
        });
        init_home(&home, &c)?;
        homes.push((home, state, host.namespace.as_str()));
    }

    let mut processes = vec![NodeProcess::started_in(&sec_host.namespace, NODE, &sec_home).await?];
    for (home, _, namespace) in &homes {
        processes.push(NodeProcess::started_in(namespace, NODE, home).await?);
    }

    // Each registers with the Secretariat, found by name; the Secretariat
    // checks each fingerprint and approves.
    for (home, state, _) in &homes {
        let fingerprint = keys_of(home).identity.public().fingerprint();
        let pending = on_host(&format!("the registration of {state}"), &sec_host.namespace, &sec_home, |api| {
            let list: Vec<PendingView> = api.get("/v1/directory/pending").ok()?;
            list.into_iter().find(|p| p.state.as_str() == *state)
        })
        .await?;
        assert_eq!(pending.fingerprint, fingerprint);
        assert_eq!(pending.addresses, vec![format!("/dns4/{}.veim.test/tcp/{PORT}", state.to_ascii_lowercase())]);
        let approve = ApproveRequest { state: state.to_string(), fingerprint };
        in_namespace(&sec_host.namespace, || {
            AdminClient::for_home(&sec_home)?.post::<_, serde_json::Value>("/v1/directory/approve", &approve)
        })??;
    }
    for (home, state, namespace) in &homes {
        on_host(&format!("{state} to hold both entries"), namespace, home, |api| {
            let s: StatusView = api.post("/v1/directory/sync", &()).ok()?;
            (s.directory_entries == 2 && s.last_error.is_none()).then_some(())
        })
        .await?;
    }
    let (swe_home, _, swe_ns) = &homes[1];
    let listing: DirectoryListing = in_namespace(swe_ns, || AdminClient::for_home(swe_home)?.get("/v1/directory"))??;
    let mex_entry = listing.entries.iter().find(|e| e.state.as_str() == "MEX").expect("MEX listed");
    assert_eq!(mex_entry.addresses, vec![format!("/dns4/mex.veim.test/tcp/{PORT}")]);

    // MEX dials SWE by the name its own hosts file resolves, through the
    // port forward; SWE dials MEX out through its router.
    let (mex_home, _, mex_ns) = &homes[0];
    for ((from_home, from_ns), (to, to_home, to_ns)) in
        [((mex_home, mex_ns), ("SWE", swe_home, swe_ns)), ((swe_home, swe_ns), ("MEX", mex_home, mex_ns))]
    {
        let sent: MessageView = in_namespace(from_ns, || {
            AdminClient::for_home(from_home)?
                .post("/v1/requests", &SendRequest { to: vec![to.into()], request: example_request() })
        })??;
        on_host(&format!("the request to reach {to}"), to_ns, to_home, |api| {
            let inbox: Vec<MessageView> = api.get("/v1/inbox").ok()?;
            inbox.iter().any(|m| m.message_id == sent.message_id).then_some(())
        })
        .await?;
    }
    assert!(lan.forwarded("swe.veim.test")? > 0, "SWE was reached through its router's port forward");
    drop(processes);
    Ok(())
}
