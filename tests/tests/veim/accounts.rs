//! Officials' accounts on a real node: each call is granted to the roles
//! its route needs and recorded under the account that made it; a disabled
//! account, an old token after a reset, and the removal of the last
//! administrator are each refused.

use std::path::Path;
use veim_node::accounts::{AccountChange, NewAccount, WithToken};
use veim_node::api::{AccountUpdated, ApiError, MessageView, SendRequest, StatusView};
use veim_node::audit::LogFiles;
use veim_node::home::Runtime;
use veim_protocol::audit::{AccountName, Action, Actor, Entry};
use veim_tests::{TestNet, blocking, example_request};
use veim_tools::users::{UsersCommand, users};
use veim_tools::{AdminClient, ClientError};

fn as_account(home: &Path, token: &str) -> anyhow::Result<AdminClient> {
    let runtime: Runtime = serde_json::from_slice(&std::fs::read(home.join(veim_node::home::RUNTIME_FILE))?)?;
    Ok(AdminClient::new(&runtime.admin, token.to_string()))
}

fn entries(home: &Path, action: Action) -> Vec<Entry> {
    let log = LogFiles::read_home(home).unwrap_or_default();
    log.entries.into_iter().filter(|e| e.event.action == action).collect()
}

fn official(name: &str) -> Actor {
    Actor::Official(AccountName::parse(name).expect("a name"))
}

/// The error code and message of a refused call.
fn refused<T: std::fmt::Debug>(result: Result<T, ClientError>) -> (String, String) {
    match result.expect_err("refused") {
        ClientError::Api(e) => (e.error, e.message),
        other => (String::new(), other.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_official_does_what_their_roles_allow_and_the_log_names_them() -> anyhow::Result<()> {
    let net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let home = net.national("MEX").home.clone();
    let admin = net.national("MEX").api()?;
    let add = |name: &str, roles: &[&str]| -> Result<WithToken, ClientError> {
        let new = NewAccount {
            name: name.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..NewAccount::default()
        };
        blocking(|| admin.post("/v1/users", &new))
    };
    let maria = add("maria", &["operator"])?;
    let ana = add("ana", &["auditor"])?;
    assert_eq!(maria.token.len(), 64);
    let maria_api = as_account(&home, &maria.token)?;
    let ana_api = as_account(&home, &ana.token)?;

    // Bad accounts are named; nothing is made.
    assert_eq!(refused(add("maria", &["approver"])).0, "exists");
    let (code, why) = refused(add("jorge", &["clerk"]));
    assert_eq!(code, "invalid");
    assert!(why.contains("use one of operator, approver, auditor"), "{why}");
    let (_, why) = refused(add("jorge", &["directory-reviewer"]));
    assert!(why.contains("Secretariat's node only"), "{why}");
    let (_, why) = refused(add("Jorge Luis", &["operator"]));
    assert!(why.contains("not an account name"), "{why}");
    let short = NewAccount {
        name: "jorge".into(),
        roles: vec!["approver".into()],
        password: Some("too short".into()),
        ..NewAccount::default()
    };
    let (_, why) = refused(blocking(|| admin.post::<_, WithToken>("/v1/users", &short)));
    assert!(why.contains("use 12 to 1024"), "{why}");

    // The operator sends; the log names her, for the send and for the call.
    let sent: MessageView = blocking(|| {
        maria_api.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() })
    })?;
    let sends = entries(&home, Action::MessageSent);
    let send = sends.iter().find(|e| e.event.message.map(|m| m.to_string()) == Some(sent.message_id.clone()));
    assert_eq!(send.expect("the send's entry").event.actor, official("maria"));
    let calls = entries(&home, Action::AdminCall);
    assert!(
        calls.iter().any(|e| e.event.actor == official("maria") && e.event.object.as_deref() == Some("/v1/requests"))
    );

    // The auditor reads the node's status, not its messages, and cannot send;
    // each refusal is recorded under her name with the role it needed.
    let _: StatusView = blocking(|| ana_api.get("/v1/status"))?;
    let (code, why) = refused(blocking(|| ana_api.get::<Vec<MessageView>>("/v1/inbox")));
    assert_eq!(code, "not-permitted");
    assert!(why.contains("the account ana (auditor) may not do this"), "{why}");
    let (code, _) = refused(blocking(|| {
        ana_api
            .post::<_, MessageView>("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() })
    }));
    assert_eq!(code, "not-permitted");
    let refusals: Vec<Entry> =
        entries(&home, Action::AdminCall).into_iter().filter(|e| e.event.actor == official("ana")).collect();
    assert!(
        refusals
            .iter()
            .any(|e| e.event.object.as_deref() == Some("/v1/requests")
                && e.event.detail == "403 refused: needs operator"),
        "{refusals:?}"
    );
    // The operator does not grant consent, nor manage accounts.
    let (code, why) = refused(blocking(|| {
        maria_api.post::<_, serde_json::Value>("/v1/consents/00000000000000000000000000000000/decide", &())
    }));
    assert_eq!(code, "not-permitted");
    assert!(why.contains("needs the role approver"), "{why}");
    assert_eq!(refused(blocking(|| maria_api.get::<serde_json::Value>("/v1/users"))).0, "not-permitted");

    // Disabled: the token stops working at once; enabled again, it works.
    let disable = AccountChange { disabled: Some(true), ..AccountChange::default() };
    let _: AccountUpdated = blocking(|| admin.post("/v1/users/maria", &disable))?;
    assert!(matches!(
        blocking(|| maria_api.get::<StatusView>("/v1/status")),
        Err(ClientError::Api(ApiError { status: 401, .. }))
    ));
    let enable = AccountChange { disabled: Some(false), ..AccountChange::default() };
    let _: AccountUpdated = blocking(|| admin.post("/v1/users/maria", &enable))?;
    let _: StatusView = blocking(|| maria_api.get("/v1/status"))?;

    // A reset through the CLI writes the new token to an owner-only file;
    // the old token is refused, the new one works.
    let file = net.dir.path().join("maria.token");
    let printed = blocking(|| {
        users(
            &admin,
            UsersCommand::Reset {
                name: "maria".into(),
                token: true,
                password_file: None,
                token_out: Some(file.clone()),
            },
        )
    })?;
    assert!(printed.text.contains("maria.token (owner-only)"), "{}", printed.text);
    assert!(!printed.json.to_string().contains(std::fs::read_to_string(&file)?.trim()), "the token is not printed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file)?.permissions().mode() & 0o777, 0o600);
    }
    assert!(matches!(
        blocking(|| maria_api.get::<StatusView>("/v1/status")),
        Err(ClientError::Api(ApiError { status: 401, .. }))
    ));
    let renewed = as_account(&home, std::fs::read_to_string(&file)?.trim())?;
    let _: StatusView = blocking(|| renewed.get("/v1/status"))?;

    // The last administrator can be neither disabled nor demoted.
    let (code, why) = refused(blocking(|| admin.post::<_, AccountUpdated>("/v1/users/admin", &disable)));
    assert_eq!(code, "last-administrator");
    assert!(why.contains("admin is the last enabled account holding the administrator role"), "{why}");
    let demote = AccountChange { roles: Some(vec!["operator".into()]), ..AccountChange::default() };
    assert_eq!(
        refused(blocking(|| admin.post::<_, AccountUpdated>("/v1/users/admin", &demote))).0,
        "last-administrator"
    );

    // Each change is recorded, under the administrator's account.
    let changed = entries(&home, Action::AccountChanged);
    let said: Vec<&str> = changed.iter().map(|e| e.event.detail.as_str()).collect();
    assert_eq!(said, ["disabled", "enabled", "new token"]);
    assert!(changed.iter().all(|e| e.event.actor == official("admin")));
    assert_eq!(entries(&home, Action::AccountCreated).len(), 3, "admin, maria, ana");
    let listed = blocking(|| users(&admin, UsersCommand::List))?;
    assert!(listed.text.contains("ana [auditor] en"), "{}", listed.text);
    net.shutdown().await;
    Ok(())
}
