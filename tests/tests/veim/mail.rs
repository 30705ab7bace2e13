//! E-mail notifications on real nodes, through a real SMTP server
//! (aiosmtpd, started by the test): what arrives, in which language,
//! without the content of the message; and a server that is down when a
//! request arrives holds up neither the receipt nor, once back, the mail.

use std::path::Path;
use std::time::Duration;
use veim_node::api::{
    AskConsent, MailTestAnswer, MailTestRequest, MessageView, QueuedMailView, RespondByRequest, RespondRequest,
    SendRequest,
};
use veim_node::audit::LogFiles;
use veim_node::home::config::{Config, Language, MailConfig, MailEvent, MailRecipient, MailSecurity};
use veim_node::mail::{Event, Letter};
use veim_node::storage::DeliveryState;
use veim_protocol::audit::Action;
use veim_tests::smtp::{Options, ReceivedMail, SmtpServer, certificates, free_port};
use veim_tests::{TestNet, blocking, example_request, wait_for};
use veim_tools::ClientError;

const DESK: &str = "att-desk@swe.example.org";
const BUREAU: &str = "bureau@swe.example.org";
const NOBODY: &str = "nobody@swe.example.org";

/// SWE's `[mail]`: the desk told of everything in English, the bureau of
/// requests only, in French.
fn mail_config(port: u16) -> MailConfig {
    MailConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        security: MailSecurity::None,
        username: None,
        password_file: None,
        ca_file: None,
        from: "veim SWE <veim@swe.example.org>".into(),
        language: Language::En,
        retry_base_secs: 1,
        retry_max_secs: 2,
        give_up_after_days: 7,
        recipients: vec![
            MailRecipient { address: DESK.into(), language: None, events: Vec::new() },
            MailRecipient {
                address: BUREAU.into(),
                language: Some(Language::Fr),
                events: vec![MailEvent::RequestReceived],
            },
        ],
    }
}

/// Restarts SWE with `mail` in its configuration.
async fn configure_swe(net: &mut TestNet, mail: MailConfig) -> anyhow::Result<()> {
    let swe = net.national_mut("SWE");
    swe.stop().await;
    let mut config = Config::load(&swe.home)?;
    config.mail = Some(mail);
    config.save(&swe.home)?;
    swe.start().await?;
    Ok(())
}

fn send_request(net: &TestNet) -> anyhow::Result<MessageView> {
    let mex = net.national("MEX").api()?;
    Ok(blocking(|| mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request: example_request() }))?)
}

/// The words of the request that must never leave by mail.
fn content_words() -> Vec<String> {
    let request = example_request();
    vec![request.summary[..60].to_string(), "MX-2016-0412".into(), "Assault rifles".into()]
}

fn assert_no_content(mail: &ReceivedMail) {
    for words in content_words() {
        assert!(!mail.raw.contains(&words) && !mail.text.contains(&words), "the mail carries {words:?}:\n{}", mail.raw);
    }
}

fn to(mail: &ReceivedMail, address: &str) -> bool {
    mail.to == [address.to_string()]
}

fn mail_entries(home: &Path, action: Action) -> Vec<veim_protocol::audit::Entry> {
    let log = LogFiles::read_home(home).unwrap_or_default();
    log.entries.into_iter().filter(|e| e.event.action == action).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_and_a_consent_request_are_mailed_in_each_recipients_language_without_their_content()
-> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    // An address the server does not know costs the others nothing.
    let options = Options { refuse: vec![NOBODY.into()], ..Options::default() };
    let smtp = SmtpServer::start_with(free_port()?, net.dir.path(), &options).await?;
    let mut config = mail_config(smtp.port);
    config.recipients.push(MailRecipient { address: NOBODY.into(), language: None, events: Vec::new() });
    configure_swe(&mut net, config).await?;

    let sent = send_request(&net)?;
    let exchange = sent.exchange_id.clone();
    let mails = smtp.wait_mails(2, Duration::from_secs(20)).await?;
    let desk = mails.iter().find(|m| to(m, DESK)).expect("a mail to the desk");
    let bureau = mails.iter().find(|m| to(m, BUREAU)).expect("a mail to the bureau");
    for m in [desk, bureau] {
        assert_eq!(m.from.as_deref(), Some("veim@swe.example.org"));
        assert!(m.text.contains(&exchange), "exchange id missing:\n{}", m.text);
        assert!(m.text.contains(&sent.message_id), "message id missing:\n{}", m.text);
        assert_no_content(m);
    }
    assert_eq!(desk.subject, format!("[veim SWE] A new request from MEX (exchange {exchange})"));
    assert!(desk.text.starts_with("The veim node of SWE received a new request from MEX."), "{}", desk.text);
    assert!(desk.text.contains("never travels by e-mail"), "{}", desk.text);
    assert_eq!(bureau.subject, format!("[veim SWE] Une nouvelle demande de MEX (échange {exchange})"));
    assert!(bureau.text.starts_with("Le nœud veim de SWE a reçu une nouvelle demande de MEX."), "{}", bureau.text);
    assert!(bureau.text.contains("Type : une nouvelle demande") || bureau.text.contains("Type: une nouvelle demande"));

    // SWE answers; MEX asks for consent to disclose the answer: the desk
    // alone is told (the bureau asked for requests only).
    let swe_api = net.national("SWE").api()?;
    let response: veim_protocol::ResponseForm =
        toml::from_str(include_str!("../../../deploy/examples/response.toml")).expect("example response");
    let answer: MessageView =
        blocking(|| swe_api.post(&format!("/v1/exchanges/{exchange}/respond"), &RespondRequest { response }))?;
    let mex = net.national("MEX").api()?;
    let asked: MessageView = blocking(|| {
        mex.post(
            &format!("/v1/exchanges/{exchange}/consent"),
            &AskConsent {
                items: vec![format!("{}#0", &answer.message_id[..veim_protocol::MessageId::SHORT_HEX])],
                authority: veim_protocol::Authority {
                    kind: veim_protocol::AuthorityKind::Court,
                    name: "Juzgado Primero de Distrito".into(),
                    state: "MEX".parse().expect("state"),
                },
                purpose: "Prosecution of the broker".into(),
                case_reference: "Causa penal 112/2017".into(),
            },
        )
    })?;
    let mails = smtp.wait_mails(3, Duration::from_secs(20)).await?;
    let consent: Vec<&ReceivedMail> = mails.iter().filter(|m| m.subject.contains("consent")).collect();
    assert_eq!(consent.len(), 1, "one consent mail: {:?}", mails.iter().map(|m| &m.subject).collect::<Vec<_>>());
    assert!(to(consent[0], DESK), "to {:?}", consent[0].to);
    assert_eq!(consent[0].subject, format!("[veim SWE] A consent request from MEX (exchange {exchange})"));
    assert!(consent[0].text.contains(&asked.message_id), "{}", consent[0].text);
    assert!(!consent[0].raw.contains("Prosecution of the broker"), "the consent's purpose left by mail");
    // No second mail for anything: three events' worth, no more.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(smtp.mails().len(), 3);

    // Each mail sent is in SWE's audit log: the event and the addresses.
    let home = net.national("SWE").home.clone();
    let sent_entries = wait_for("three mail-sent entries", Duration::from_secs(10), || {
        let e = mail_entries(&home, Action::MailSent);
        (e.len() >= 3).then_some(e)
    })
    .await?;
    let details: Vec<&str> = sent_entries.iter().map(|e| e.event.detail.as_str()).collect();
    assert!(details.contains(&format!("request-received, to {DESK}").as_str()), "{details:?}");
    assert!(details.contains(&format!("request-received, to {BUREAU}").as_str()), "{details:?}");
    assert!(details.contains(&format!("consent-request-received, to {DESK}").as_str()), "{details:?}");
    assert!(sent_entries.iter().all(|e| e.event.exchange.map(|x| x.to_hex()) == Some(exchange.clone())));
    // The refused address: given up for good, once per mail, named.
    let given_up = wait_for("two mails given up", Duration::from_secs(10), || {
        let e = mail_entries(&home, Action::MailFailed);
        (e.len() >= 2).then_some(e)
    })
    .await?;
    assert_eq!(given_up.len(), 2, "{:?}", given_up.iter().map(|e| &e.event.detail).collect::<Vec<_>>());
    for e in &given_up {
        assert!(e.event.detail.contains(&format!("to {NOBODY}: given up")), "{}", e.event.detail);
        assert!(e.event.detail.contains("550"), "{}", e.event.detail);
    }

    // Another service's event (the overdue check raises this one): the
    // desk (and the unknown address) are told, the bureau (requests only)
    // is not.
    let mailer = net.national("SWE").handle.as_ref().expect("SWE runs").node.mailer.clone();
    let exchange_id: veim_protocol::ExchangeId = exchange.parse().expect("exchange id");
    let due = veim_node::clock::now() - 86_400;
    let queued =
        mailer.notify(Event::ResponseOverdue { exchange: exchange_id, waiting_for: vec!["SWE".parse()?], due }).await?;
    assert_eq!(queued, 2, "one mail per address told of overdue exchanges");
    // A service's own letter, to a list of addresses, in Spanish.
    let letter = Letter { subject: "Reunión anual".into(), body: "Invitación a la reunión anual.".into() };
    mailer.send_letter(&["a@mfa.example.org".into(), "b@mfa.example.org".into()], Language::Es, letter).await?;
    let mails = smtp.wait_mails(5, Duration::from_secs(20)).await?;
    let overdue: Vec<&ReceivedMail> = mails.iter().filter(|m| m.subject.contains("Response date passed")).collect();
    assert_eq!(overdue.len(), 1);
    assert!(to(overdue[0], DESK));
    assert!(overdue[0].text.contains("without a response from SWE."), "{}", overdue[0].text);
    let invitation = mails.iter().find(|m| m.subject == "Reunión anual").expect("the letter");
    assert_eq!(invitation.to, ["a@mfa.example.org", "b@mfa.example.org"]);
    assert!(invitation.text.contains("Enviado por el nodo veim de SWE."), "{}", invitation.text);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(smtp.mails().len(), 5);
    net.shutdown().await;
    Ok(())
}

/// The overdue check's own event, end to end: MEX asks SWE to respond by a
/// day already past; MEX's desk is told once, in its language, and neither
/// the next checks nor a restart tell it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_exchange_past_its_response_date_is_mailed_once_to_the_requesting_desk() -> anyhow::Result<()> {
    const MEX_DESK: &str = "att@sre.example.org";
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let smtp = SmtpServer::start_with(free_port()?, net.dir.path(), &Options::default()).await?;
    let mex = net.national_mut("MEX");
    mex.stop().await;
    let mut config = Config::load(&mex.home)?;
    config.overdue_check_secs = 1;
    let mut mail = mail_config(smtp.port);
    mail.from = "veim MEX <veim@sre.example.org>".into();
    mail.recipients = vec![MailRecipient {
        address: MEX_DESK.into(),
        language: Some(Language::Es),
        events: vec![MailEvent::ResponseOverdue],
    }];
    config.mail = Some(mail);
    config.save(&mex.home)?;
    mex.start().await?;

    let sent = send_request(&net)?;
    let exchange = sent.exchange_id.clone();
    let today = veim_protocol::progress::CalendarDate::of_time(veim_node::clock::now()).expect("today");
    let yesterday = veim_protocol::progress::CalendarDate::from_days(today.days() - 1).expect("a date");
    let api = net.national("MEX").api()?;
    let _: MessageView = blocking(|| {
        api.post(
            &format!("/v1/exchanges/{exchange}/respond-by"),
            &RespondByRequest { date: yesterday.to_string(), text: String::new() },
        )
    })?;
    let mails = smtp.wait_mails(1, Duration::from_secs(20)).await?;
    assert!(to(&mails[0], MEX_DESK), "to {:?}", mails[0].to);
    assert_eq!(mails[0].subject, format!("[veim MEX] Fecha de respuesta superada (intercambio {exchange})"));
    assert!(mails[0].text.contains("SWE"), "the State awaited is named:\n{}", mails[0].text);
    assert_no_content(&mails[0]);
    // Three more checks, then a restart: still one mail.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mex = net.national_mut("MEX");
    mex.stop().await;
    mex.start().await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(smtp.mails().len(), 1, "{:?}", smtp.mails().iter().map(|m| &m.subject).collect::<Vec<_>>());
    net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mail_waits_out_an_smtp_server_that_is_down_and_the_request_is_receipted_at_once() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let port = free_port()?;
    configure_swe(&mut net, mail_config(port)).await?;

    // No server: the request is receipted as ever, the mails wait.
    let sent = send_request(&net)?;
    assert!(
        sent.deliveries.iter().all(|d| matches!(d.state, DeliveryState::Delivered { .. })),
        "the request waited for the mail: {:?}",
        sent.deliveries
    );
    let swe = net.national("SWE").api()?;
    let queue = wait_for("the mails tried at least three times", Duration::from_secs(20), || {
        let queue: Vec<QueuedMailView> = swe.get("/v1/mail/queue").ok()?;
        (queue.len() == 2 && queue.iter().any(|m| m.attempts >= 3)).then_some(queue)
    })
    .await?;
    let error = queue.iter().find_map(|m| m.last_error.clone()).unwrap_or_default();
    assert!(error.contains("cannot connect to the SMTP server 127.0.0.1:"), "{error}");
    // Many attempts, one audit entry for the failing period.
    let home = net.national("SWE").home.clone();
    let failed = wait_for("the failure in the audit log", Duration::from_secs(10), || {
        let e = mail_entries(&home, Action::MailFailed);
        (!e.is_empty()).then_some(e)
    })
    .await?;
    assert_eq!(failed.len(), 1, "{:?}", failed.iter().map(|e| &e.event.detail).collect::<Vec<_>>());
    let (addr, _) = super::admin::admin_of(&home)?;
    let (_, metrics) = super::admin::http(&addr, "GET", "/metrics", &[], "").await?;
    assert!(metrics.contains("veim_mail_queued 2"), "{metrics}");
    assert!(metrics.contains("veim_mail_failing 1"), "{metrics}");
    // `veim mail test` says what failed, and what to check.
    let tried: Result<MailTestAnswer, ClientError> =
        blocking(|| swe.post("/v1/mail/test", &MailTestRequest { to: Some("ops@swe.example.org".into()) }));
    match tried {
        Err(ClientError::Api(e)) => {
            assert_eq!(e.error, "mail-connect", "{}", e.message);
            assert!(e.message.contains("Connection refused") && e.message.contains("Check [mail] host and port"));
        }
        other => panic!("a test mail without a server: {other:?}"),
    }

    // The node keeps them across a restart; the server comes up: they leave.
    let swe_node = net.national_mut("SWE");
    swe_node.stop().await;
    swe_node.start().await?;
    let smtp = SmtpServer::start_on(port, net.dir.path()).await?;
    let mails = smtp.wait_mails(2, Duration::from_secs(20)).await?;
    assert!(mails.iter().any(|m| to(m, DESK) && m.text.contains(&sent.exchange_id)));
    assert!(mails.iter().any(|m| to(m, BUREAU) && m.subject.starts_with("[veim SWE] Une nouvelle demande de MEX")));
    let swe = net.national("SWE").api()?;
    wait_for("the queue empty", Duration::from_secs(10), || {
        let queue: Vec<QueuedMailView> = swe.get("/v1/mail/queue").ok()?;
        queue.is_empty().then_some(())
    })
    .await?;
    let answer: MailTestAnswer =
        blocking(|| swe.post("/v1/mail/test", &MailTestRequest { to: Some("ops@swe.example.org".into()) }))?;
    assert_eq!(answer.sent_to, ["ops@swe.example.org"]);
    let mails = smtp.wait_mails(3, Duration::from_secs(10)).await?;
    assert!(mails.iter().any(|m| to(m, "ops@swe.example.org") && m.subject == "[veim SWE] Test mail"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(smtp.mails().len(), 3, "each mail sent once");
    net.shutdown().await;
    Ok(())
}

/// `POST /v1/mail/test` to `address`: the error's code and message.
fn test_mail_fails(api: &veim_tools::AdminClient, address: &str) -> (String, String) {
    let tried: Result<MailTestAnswer, ClientError> =
        blocking(|| api.post("/v1/mail/test", &MailTestRequest { to: Some(address.into()) }));
    match tried {
        Err(ClientError::Api(e)) => (e.error, e.message),
        other => panic!("the test mail to {address} did not fail as it should: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_over_starttls_delivers_and_an_untrusted_certificate_or_a_wrong_password_is_named() -> anyhow::Result<()>
{
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let (ca, cert, key) = certificates(net.dir.path())?;
    let port = free_port()?;
    let options = Options {
        tls: Some((cert, key)),
        login: Some(("veim-swe".into(), "right horse".into())),
        ..Options::default()
    };
    let smtp = SmtpServer::start_with(port, net.dir.path(), &options).await?;
    let home = net.national("SWE").home.clone();
    std::fs::write(home.join("mail.password"), "right horse\n")?;
    std::fs::copy(&ca, home.join("smtp-ca.pem"))?;
    let login = |ca_file: Option<&str>| MailConfig {
        host: "localhost".into(),
        security: MailSecurity::Starttls,
        username: Some("veim-swe".into()),
        ca_file: ca_file.map(Into::into),
        ..mail_config(port)
    };

    // The server's certificate is signed by a CA this node does not trust.
    configure_swe(&mut net, login(None)).await?;
    let swe = net.national("SWE").api()?;
    let (code, message) = test_mail_fails(&swe, DESK);
    assert_eq!(code, "mail-tls", "{message}");
    assert!(message.contains("TLS with the SMTP server localhost:") && message.contains("CA"), "{message}");

    // Trusted; the wrong password.
    configure_swe(&mut net, login(Some("smtp-ca.pem"))).await?;
    let swe = net.national("SWE").api()?;
    std::fs::write(home.join("mail.password"), "wrong horse\n")?;
    let (code, message) = test_mail_fails(&swe, DESK);
    assert_eq!(code, "mail-auth", "{message}");
    assert!(message.contains("refused the login of \"veim-swe\"") && message.contains("password"), "{message}");

    // The password is read at each attempt: right again, the request's
    // mails leave over STARTTLS with the login.
    std::fs::write(home.join("mail.password"), "right horse\n")?;
    let sent = send_request(&net)?;
    let mails = smtp.wait_mails(2, Duration::from_secs(20)).await?;
    assert!(mails.iter().all(|m| m.text.contains(&sent.exchange_id)));
    assert!(mails.iter().any(|m| to(m, DESK)) && mails.iter().any(|m| to(m, BUREAU)));
    net.shutdown().await;
    Ok(())
}
