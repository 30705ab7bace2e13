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
use veim_node::mail::{Event, Letter, OwnLetter};
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
    // A service's own letters, one address each, in Spanish; a bad
    // address among them is named and nothing is queued.
    let own = |to: &str| OwnLetter {
        event: "letter",
        to: to.into(),
        language: Language::Es,
        state: None,
        letter: Letter { subject: "Reunión anual".into(), body: "Invitación a la reunión anual.".into() },
    };
    let bad = mailer.send_letters(vec![own("a@mfa.example.org"), own("not an address")]).await;
    assert!(bad.expect_err("a bad address").to_string().contains("\"not an address\" is not an e-mail address"));
    mailer.send_letters(vec![own("a@mfa.example.org"), own("b@mfa.example.org")]).await?;
    let mails = smtp.wait_mails(6, Duration::from_secs(20)).await?;
    let overdue: Vec<&ReceivedMail> = mails.iter().filter(|m| m.subject.contains("Response date passed")).collect();
    assert_eq!(overdue.len(), 1);
    assert!(to(overdue[0], DESK));
    assert!(overdue[0].text.contains("without a response from SWE."), "{}", overdue[0].text);
    let letters: Vec<&ReceivedMail> = mails.iter().filter(|m| m.subject == "Reunión anual").collect();
    let mut to_whom: Vec<&[String]> = letters.iter().map(|m| m.to.as_slice()).collect();
    to_whom.sort();
    assert_eq!(to_whom, [["a@mfa.example.org".to_string()], ["b@mfa.example.org".to_string()]]);
    assert!(letters[0].text.contains("Enviado por el nodo veim de SWE."), "{}", letters[0].text);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(smtp.mails().len(), 6);
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

/// The Secretariat invites the points of contact of active States to the
/// meeting, one mail per address, each in the first of its languages asked
/// for; a suspended State's contacts are not invited, nor is an address
/// invited twice unless the operator asks again; the roles and languages
/// chosen narrow who is written to.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn meeting_invitations_reach_each_chosen_contact_alone_in_its_language() -> anyhow::Result<()> {
    use veim_node::api::{
        ContactsDecision, PublicationView, PublishNotice, StatusChangeRequest, SubmitContactsRequest, VersionView,
    };
    use veim_node::publications::{Invitations, InviteFilter};
    use veim_protocol::contacts::ContactSetForm;
    use veim_protocol::meeting::MeetingNoticeForm;
    use veim_tools::publish::{MeetingCommand, meeting};

    let mut net = TestNet::admitted(&["MEX", "SWE", "DEU"]).await?;
    let sec = net.secretariat.api()?;
    let invite = |filter: InviteFilter| blocking(|| sec.post::<_, Invitations>("/v1/meeting/invite", &filter));
    let no_notice = invite(InviteFilter::default()).expect_err("no notice yet").to_string();
    assert!(no_notice.contains("no meeting notice is held here"), "{no_notice}");

    // MEX lists the example's two contacts (Spanish first); SWE a national
    // point of contact working in Swedish and French and an alternate in
    // Swedish only; DEU one contact, and DEU is then suspended.
    let example: ContactSetForm = toml::from_str(include_str!("../../../deploy/examples/contacts.toml"))?;
    let mut swe = example.clone();
    swe.contacts[0].name = "Anna Lindqvist".into();
    swe.contacts[0].emails = vec!["anna.lindqvist@isp.example.se".into()];
    swe.contacts[0].languages = vec!["sv".into(), "fr".into()];
    swe.contacts[1].name = "Erik Berg".into();
    swe.contacts[1].emails = vec!["erik.berg@isp.example.se".into()];
    swe.contacts[1].languages = vec!["sv".into()];
    let mut deu = example.clone();
    deu.contacts.truncate(1);
    deu.contacts[0].emails = vec!["poc@bafa.example.de".into()];
    for (state, form) in [("MEX", example), ("SWE", swe), ("DEU", deu)] {
        let _: serde_json::Value =
            blocking(|| net.national(state).api()?.post("/v1/contacts", &SubmitContactsRequest { contacts: form }))?;
        let decision = ContactsDecision { state: state.into(), reason: String::new() };
        let _: VersionView = blocking(|| sec.post("/v1/contacts/accept", &decision))?;
    }
    let suspend =
        StatusChangeRequest { state: "DEU".into(), action: veim_protocol::EntryAction::Suspend, reason: "test".into() };
    let _: VersionView = blocking(|| sec.post("/v1/directory/status", &suspend))?;
    let notice = MeetingNoticeForm {
        title: "Annual meeting of national points of contact".into(),
        csp_date: "2030-08-26".into(),
        online: Some("https://meet.example.org/att-2030".into()),
        languages: vec!["en".into(), "fr".into(), "es".into()],
        agenda: vec!["Opening".into(), "Article 11 in practice".into()],
        ..MeetingNoticeForm::default()
    };
    let published: PublicationView = blocking(|| sec.post("/v1/meeting/notice", &PublishNotice { notice }))?;

    // Without [mail], the operator is told what to add.
    let no_mail = invite(InviteFilter::default()).expect_err("no [mail]").to_string();
    assert!(no_mail.contains("no [mail] section"), "{no_mail}");
    let smtp = SmtpServer::start_with(free_port()?, net.dir.path(), &Options::default()).await?;
    net.secretariat.stop().await;
    let mut config = Config::load(&net.secretariat.home)?;
    config.mail = Some(MailConfig {
        from: "ATT Secretariat <veim@att.example.org>".into(),
        recipients: Vec::new(),
        ..mail_config(smtp.port)
    });
    config.save(&net.secretariat.home)?;
    net.secretariat.start().await?;
    let sec = net.secretariat.api()?;
    let invite = |filter: InviteFilter| blocking(|| sec.post::<_, Invitations>("/v1/meeting/invite", &filter));

    let all = invite(InviteFilter::default())?;
    assert_eq!(all.notice, published.seq);
    let mut invited: Vec<(String, Language)> = all.invited.iter().map(|i| (i.email.clone(), i.language)).collect();
    invited.sort();
    assert_eq!(
        invited,
        [
            ("anna.lindqvist@isp.example.se".to_string(), Language::Fr),
            ("att-poc@sre.example.mx".to_string(), Language::Es),
            ("erik.berg@isp.example.se".to_string(), Language::En),
            ("export.controls@economia.example.mx".to_string(), Language::Es),
        ],
        "every contact of an active State, DEU's not"
    );
    let mails = smtp.wait_mails(4, Duration::from_secs(20)).await?;
    for mail in &mails {
        assert_eq!(mail.to.len(), 1, "one address a mail: {:?}", mail.to);
    }
    let to_anna = mails.iter().find(|m| to(m, "anna.lindqvist@isp.example.se")).expect("Anna's mail");
    assert!(to_anna.subject.starts_with("[veim] Invitation : Annual meeting"), "{}", to_anna.subject);
    assert!(to_anna.text.contains("À l'attention de Anna Lindqvist,"), "{}", to_anna.text);
    assert!(to_anna.text.contains("Lieu : en ligne, https://meet.example.org/att-2030"), "{}", to_anna.text);
    assert!(to_anna.text.contains("Envoyé par le nœud veim du Secrétariat du TCA."), "{}", to_anna.text);
    let to_poc = mails.iter().find(|m| to(m, "att-poc@sre.example.mx")).expect("the Mexican poc's mail");
    assert!(to_poc.text.contains("Estimado/a María Fernanda López:"), "{}", to_poc.text);
    assert!(to_poc.text.contains("puntos de contacto nacionales de MEX"), "{}", to_poc.text);
    assert!(to_poc.text.contains("  2. Article 11 in practice"), "{}", to_poc.text);
    let to_erik = mails.iter().find(|m| to(m, "erik.berg@isp.example.se")).expect("Erik's mail");
    assert!(to_erik.text.contains("Registrations close: "), "{}", to_erik.text);
    assert!(!mails.iter().any(|m| m.raw.contains("anna.lindqvist") && !to(m, "anna.lindqvist@isp.example.se")));

    // Again: nobody is invited twice, each address named.
    let twice = invite(InviteFilter::default())?;
    assert!(twice.invited.is_empty(), "{twice:?}");
    assert_eq!(twice.not_invited.len(), 4);
    assert!(twice.not_invited.iter().all(|n| n.reason.contains("already invited")), "{twice:?}");

    // The alternates working in French, asked again through the CLI: the
    // Mexican alternate (Spanish, English, French) in French; the Swedish
    // one (Swedish only) is not chosen.
    let printed = blocking(|| {
        meeting(
            &sec,
            MeetingCommand::Invite {
                roles: vec!["alternate".into()],
                languages: vec!["fr".into()],
                states: Vec::new(),
                again: true,
            },
        )
    })?;
    assert!(printed.text.starts_with("1 invitation(s) to the meeting of publication"), "{}", printed.text);
    assert!(
        printed.text.contains("MEX Jorge Ramírez <export.controls@economia.example.mx> (alternate, fr)"),
        "{}",
        printed.text
    );
    let bad_role = blocking(|| {
        meeting(
            &sec,
            MeetingCommand::Invite {
                roles: vec!["delegate".into()],
                languages: Vec::new(),
                states: Vec::new(),
                again: false,
            },
        )
    });
    assert!(bad_role.expect_err("no such role").to_string().contains("use national-poc, alternate or focal-point"));
    let mails = smtp.wait_mails(5, Duration::from_secs(20)).await?;
    let french =
        mails.iter().find(|m| to(m, "export.controls@economia.example.mx") && m.text.contains("À l'attention"));
    assert!(french.is_some(), "the alternate's second invitation, in French");

    // A national node does not invite; the Secretariat's log names each
    // invitation, and each mail sent.
    let national =
        blocking(|| net.national("MEX").api()?.post::<_, Invitations>("/v1/meeting/invite", &InviteFilter::default()));
    let national = national.expect_err("wrong role").to_string();
    assert!(national.contains("only the Secretariat's node"), "{national}");
    let home = net.secretariat.home.clone();
    let invited = mail_entries(&home, Action::MeetingInvited);
    assert_eq!(invited.len(), 5, "{:?}", invited.iter().map(|e| &e.event.detail).collect::<Vec<_>>());
    assert!(invited.iter().any(|e| e.event.detail == "anna.lindqvist@isp.example.se, national-poc, fr"));
    wait_for("five mail-sent entries", Duration::from_secs(10), || {
        (mail_entries(&home, Action::MailSent).len() == 5).then_some(())
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(smtp.mails().len(), 5);
    net.shutdown().await;
    Ok(())
}
