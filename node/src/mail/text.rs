//! What the mails say, in English, French and Spanish: the same text in
//! each. A notification names the exchange, the State and the kind of
//! message, and when; never what the message says, since a mail leaves the
//! node in clear to a server outside the end-to-end encryption.

use crate::home::config::Language;
use veim_protocol::meeting::{MeetingNotice, Venue};
use veim_protocol::{ExchangeId, MessageId, StateCode};

/// How the mails of the Secretariat's node name it, a node that speaks for
/// no State.
pub const SECRETARIAT: &str = "ATT Secretariat";

/// Something an operator is told of by mail. Any service may raise one
/// with [`super::Mailer::notify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A request from `from` was received and stored.
    RequestReceived { exchange: ExchangeId, message: MessageId, from: StateCode, at: i64 },
    /// A consent request from `from` was received and stored.
    ConsentRequestReceived { exchange: ExchangeId, message: MessageId, from: StateCode, at: i64 },
    /// `exchange` passed the date by which it asked for a response
    /// (`due`), with none from `waiting_for`.
    ResponseOverdue { exchange: ExchangeId, waiting_for: Vec<StateCode>, due: i64 },
}

impl Event {
    pub fn kind(&self) -> crate::home::config::MailEvent {
        use crate::home::config::MailEvent;
        match self {
            Event::RequestReceived { .. } => MailEvent::RequestReceived,
            Event::ConsentRequestReceived { .. } => MailEvent::ConsentRequestReceived,
            Event::ResponseOverdue { .. } => MailEvent::ResponseOverdue,
        }
    }

    pub fn exchange(&self) -> ExchangeId {
        match self {
            Event::RequestReceived { exchange, .. }
            | Event::ConsentRequestReceived { exchange, .. }
            | Event::ResponseOverdue { exchange, .. } => *exchange,
        }
    }

    pub fn message(&self) -> Option<MessageId> {
        match self {
            Event::RequestReceived { message, .. } | Event::ConsentRequestReceived { message, .. } => Some(*message),
            Event::ResponseOverdue { .. } => None,
        }
    }

    /// The other State the event is about (the sender; for an overdue
    /// exchange, the first State not answering).
    pub fn state(&self) -> Option<StateCode> {
        match self {
            Event::RequestReceived { from, .. } | Event::ConsentRequestReceived { from, .. } => Some(*from),
            Event::ResponseOverdue { waiting_for, .. } => waiting_for.first().copied(),
        }
    }
}

/// A mail's subject and text, in one language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter {
    pub subject: String,
    pub body: String,
}

/// The words of one language.
struct Words {
    request: &'static str,
    consent_request: &'static str,
    /// "{node} received {a kind} from {state}."
    received: fn(node: &str, kind: &str, from: &str) -> String,
    subject_received: fn(node: &str, kind: &str, from: &str, exchange: &str) -> String,
    overdue: fn(node: &str, exchange: &str, due: &str, waiting: &str) -> String,
    subject_overdue: fn(node: &str, exchange: &str) -> String,
    exchange: &'static str,
    message: &'static str,
    from: &'static str,
    kind: &'static str,
    received_at: &'static str,
    due: &'static str,
    waiting_for: &'static str,
    read_it: &'static str,
    no_content: &'static str,
    test_subject: fn(node: &str) -> String,
    test_body: fn(node: &str) -> String,
}

fn words(language: Language) -> Words {
    match language {
        Language::En => Words {
            request: "a new request",
            consent_request: "a consent request",
            received: |node, kind, from| format!("The veim node of {node} received {kind} from {from}."),
            subject_received: |node, kind, from, x| format!("[veim {node}] {} from {from} (exchange {x})", cap(kind)),
            overdue: |node, x, due, waiting| {
                format!(
                    "Exchange {x} of the veim node of {node} passed its response date ({due}) without a response from {waiting}."
                )
            },
            subject_overdue: |node, x| format!("[veim {node}] Response date passed (exchange {x})"),
            exchange: "Exchange",
            message: "Message",
            from: "From",
            kind: "Kind",
            received_at: "Received",
            due: "Response date",
            waiting_for: "No response from",
            read_it: "Read it on the node: veim inbox, or the exchange in the console.",
            no_content: "This mail only says that something happened: the content stays on the node, end-to-end \
                         encrypted, and never travels by e-mail.",
            test_subject: |node| format!("[veim {node}] Test mail"),
            test_body: |node| {
                format!("The veim node of {node} can send mail through this server: notifications will arrive here.")
            },
        },
        Language::Fr => Words {
            request: "une nouvelle demande",
            consent_request: "une demande de consentement",
            received: |node, kind, from| format!("Le nœud veim de {node} a reçu {kind} de {from}."),
            subject_received: |node, kind, from, x| format!("[veim {node}] {} de {from} (échange {x})", cap(kind)),
            overdue: |node, x, due, waiting| {
                format!(
                    "L'échange {x} du nœud veim de {node} a dépassé sa date de réponse ({due}) sans réponse de {waiting}."
                )
            },
            subject_overdue: |node, x| format!("[veim {node}] Date de réponse dépassée (échange {x})"),
            exchange: "Échange",
            message: "Message",
            from: "De",
            kind: "Type",
            received_at: "Reçu le",
            due: "Date de réponse",
            waiting_for: "Sans réponse de",
            read_it: "Consultez-le sur le nœud : veim inbox, ou l'échange dans la console.",
            no_content: "Ce courriel indique seulement qu'un événement a eu lieu : le contenu reste sur le nœud, \
                         chiffré de bout en bout, et ne circule jamais par courriel.",
            test_subject: |node| format!("[veim {node}] Courriel d'essai"),
            test_body: |node| {
                format!(
                    "Le nœud veim de {node} peut envoyer des courriels par ce serveur : les notifications arriveront ici."
                )
            },
        },
        Language::Es => Words {
            request: "una nueva solicitud",
            consent_request: "una solicitud de consentimiento",
            received: |node, kind, from| format!("El nodo veim de {node} recibió {kind} de {from}."),
            subject_received: |node, kind, from, x| format!("[veim {node}] {} de {from} (intercambio {x})", cap(kind)),
            overdue: |node, x, due, waiting| {
                format!(
                    "El intercambio {x} del nodo veim de {node} superó su fecha de respuesta ({due}) sin respuesta de {waiting}."
                )
            },
            subject_overdue: |node, x| format!("[veim {node}] Fecha de respuesta superada (intercambio {x})"),
            exchange: "Intercambio",
            message: "Mensaje",
            from: "De",
            kind: "Tipo",
            received_at: "Recibido el",
            due: "Fecha de respuesta",
            waiting_for: "Sin respuesta de",
            read_it: "Consúltelo en el nodo: veim inbox, o el intercambio en la consola.",
            no_content: "Este correo solo indica que algo ocurrió: el contenido permanece en el nodo, cifrado de \
                         extremo a extremo, y nunca viaja por correo electrónico.",
            test_subject: |node| format!("[veim {node}] Correo de prueba"),
            test_body: |node| {
                format!(
                    "El nodo veim de {node} puede enviar correo por este servidor: las notificaciones llegarán aquí."
                )
            },
        },
    }
}

/// The first letter in upper case.
fn cap(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A time as `YYYY-MM-DD HH:MM UTC`.
fn when(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC")).ok())
        .unwrap_or_else(|| at.to_string())
}

/// The mail telling of `event`, for the operators of `node` (its State, or
/// `veim` on a node that speaks for none), in `language`.
pub fn letter(event: &Event, node: &str, language: Language) -> Letter {
    let w = words(language);
    let x = event.exchange().to_string();
    let mut lines = Vec::new();
    let subject = match event {
        Event::RequestReceived { message, from, at, .. } | Event::ConsentRequestReceived { message, from, at, .. } => {
            let kind = if matches!(event, Event::RequestReceived { .. }) { w.request } else { w.consent_request };
            let from = from.to_string();
            lines.push((w.received)(node, kind, &from));
            lines.push(String::new());
            lines.push(format!("{}: {x}", w.exchange));
            lines.push(format!("{}: {message}", w.message));
            lines.push(format!("{}: {from}", w.from));
            lines.push(format!("{}: {kind}", w.kind));
            lines.push(format!("{}: {}", w.received_at, when(*at)));
            lines.push(String::new());
            lines.push(w.read_it.to_string());
            (w.subject_received)(node, kind, &from, &x)
        }
        Event::ResponseOverdue { waiting_for, due, .. } => {
            let waiting: Vec<String> = waiting_for.iter().map(|s| s.to_string()).collect();
            let waiting = waiting.join(", ");
            lines.push((w.overdue)(node, &x, &when(*due), &waiting));
            lines.push(String::new());
            lines.push(format!("{}: {x}", w.exchange));
            lines.push(format!("{}: {}", w.due, when(*due)));
            lines.push(format!("{}: {waiting}", w.waiting_for));
            lines.push(String::new());
            lines.push(w.read_it.to_string());
            (w.subject_overdue)(node, &x)
        }
    };
    lines.push(String::new());
    lines.push(w.no_content.to_string());
    Letter { subject, body: lines.join("\n") + "\n" }
}

/// The mail `veim mail test` sends.
pub fn test_letter(node: &str, language: Language) -> Letter {
    let w = words(language);
    Letter { subject: (w.test_subject)(node), body: format!("{}\n\n{}\n", (w.test_body)(node), w.no_content) }
}

/// How a service's own letter is signed in `language`.
pub fn signature(node: &str, language: Language) -> String {
    match (node == SECRETARIAT, language) {
        (true, Language::En) => "Sent by the veim node of the ATT Secretariat.".into(),
        (true, Language::Fr) => "Envoyé par le nœud veim du Secrétariat du TCA.".into(),
        (true, Language::Es) => "Enviado por el nodo veim de la Secretaría del TCA.".into(),
        (false, Language::En) => format!("Sent by the veim node of {node}."),
        (false, Language::Fr) => format!("Envoyé par le nœud veim de {node}."),
        (false, Language::Es) => format!("Enviado por el nodo veim de {node}."),
    }
}

/// The Secretariat's invitation to the annual meeting of national points of
/// contact, publication `seq`, for `name` of `state`, in `language`: what
/// the notice says, and how the State registers.
pub fn invitation(notice: &MeetingNotice, seq: u64, state: StateCode, name: &str, language: Language) -> Letter {
    let n = notice;
    let agenda: Vec<String> = n.agenda.iter().enumerate().map(|(i, item)| format!("  {}. {item}", i + 1)).collect();
    let deadline = when(n.registration_deadline);
    let names = |names: [&str; 3]| -> String {
        n.languages
            .iter()
            .map(|l| match l {
                Language::En => names[0],
                Language::Fr => names[1],
                Language::Es => names[2],
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (subject, lines) = match language {
        Language::En => (
            format!("[veim] Invitation: {}, {} to {}", n.title, n.starts_on, n.ends_on),
            vec![
                format!("Dear {name},"),
                String::new(),
                format!("The ATT Secretariat invites the national points of contact of {state} to the {}.", n.title),
                String::new(),
                format!(
                    "Dates: {} to {} (the Conference of States Parties opens on {})",
                    n.starts_on, n.ends_on, n.csp_date
                ),
                format!(
                    "Venue: {}",
                    match &n.venue {
                        Venue::InPerson(place) => format!("in person, {place}"),
                        Venue::Online(how) => format!("online, {how}"),
                    }
                ),
                format!("Languages: {}", names(["English", "French", "Spanish"])),
                format!("Registrations close: {deadline}"),
                String::new(),
                "Draft agenda:".into(),
            ],
        ),
        Language::Fr => (
            format!("[veim] Invitation : {}, du {} au {}", n.title, n.starts_on, n.ends_on),
            vec![
                format!("À l'attention de {name},"),
                String::new(),
                format!(
                    "Le Secrétariat du TCA invite les points de contact nationaux de {state} à la réunion « {} ».",
                    n.title
                ),
                String::new(),
                format!(
                    "Dates : du {} au {} (la Conférence des États Parties s'ouvre le {})",
                    n.starts_on, n.ends_on, n.csp_date
                ),
                format!(
                    "Lieu : {}",
                    match &n.venue {
                        Venue::InPerson(place) => format!("en présentiel, {place}"),
                        Venue::Online(how) => format!("en ligne, {how}"),
                    }
                ),
                format!("Langues : {}", names(["anglais", "français", "espagnol"])),
                format!("Clôture des inscriptions : {deadline}"),
                String::new(),
                "Projet d'ordre du jour :".into(),
            ],
        ),
        Language::Es => (
            format!("[veim] Invitación: {}, del {} al {}", n.title, n.starts_on, n.ends_on),
            vec![
                format!("Estimado/a {name}:"),
                String::new(),
                format!(
                    "La Secretaría del TCA invita a los puntos de contacto nacionales de {state} a la reunión «{}».",
                    n.title
                ),
                String::new(),
                format!(
                    "Fechas: del {} al {} (la Conferencia de los Estados Partes se abre el {})",
                    n.starts_on, n.ends_on, n.csp_date
                ),
                format!(
                    "Lugar: {}",
                    match &n.venue {
                        Venue::InPerson(place) => format!("presencial, {place}"),
                        Venue::Online(how) => format!("en línea, {how}"),
                    }
                ),
                format!("Idiomas: {}", names(["inglés", "francés", "español"])),
                format!("Cierre de las inscripciones: {deadline}"),
                String::new(),
                "Proyecto de orden del día:".into(),
            ],
        ),
    };
    let how = match language {
        Language::En => format!(
            "Your State's veim operator registers its participants, chosen from its points of contact, on its node \
             (veim meeting register) before registrations close. The notice is publication {seq} of the \
             Secretariat's log, signed by the Secretariat: every State's node holds it (veim meeting show)."
        ),
        Language::Fr => format!(
            "L'opérateur veim de votre État inscrit ses participants, choisis parmi ses points de contact, sur son \
             nœud (veim meeting register) avant la clôture des inscriptions. L'avis est la publication {seq} du \
             journal du Secrétariat, signée par le Secrétariat : le nœud de chaque État la détient (veim meeting show)."
        ),
        Language::Es => format!(
            "El operador veim de su Estado inscribe a sus participantes, elegidos entre sus puntos de contacto, en su \
             nodo (veim meeting register) antes del cierre de las inscripciones. El aviso es la publicación {seq} del \
             registro de la Secretaría, firmada por la Secretaría: el nodo de cada Estado la tiene (veim meeting show)."
        ),
    };
    let mut body = lines;
    body.extend(agenda);
    body.push(String::new());
    body.push(how);
    Letter { subject, body: body.join("\n") + "\n" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(s: &str) -> StateCode {
        s.parse().expect("state")
    }

    fn ids() -> (ExchangeId, MessageId) {
        let mut bytes = [7u8; 16];
        bytes[..3].copy_from_slice(b"MEX");
        let message = MessageId(bytes);
        (ExchangeId::for_request(state("MEX"), message), message)
    }

    #[test]
    fn each_language_names_the_exchange_the_sender_and_the_kind_in_its_own_words() {
        let (exchange, message) = ids();
        let at = 1_796_000_000;
        let request = Event::RequestReceived { exchange, message, from: state("MEX"), at };
        let en = letter(&request, "SWE", Language::En);
        assert_eq!(en.subject, format!("[veim SWE] A new request from MEX (exchange {exchange})"));
        assert!(en.body.starts_with("The veim node of SWE received a new request from MEX.\n"), "{}", en.body);
        let fr = letter(&request, "SWE", Language::Fr);
        assert_eq!(fr.subject, format!("[veim SWE] Une nouvelle demande de MEX (échange {exchange})"));
        assert!(fr.body.contains("Le nœud veim de SWE a reçu une nouvelle demande de MEX."), "{}", fr.body);
        let es = letter(&request, "SWE", Language::Es);
        assert!(es.body.contains("El nodo veim de SWE recibió una nueva solicitud de MEX."), "{}", es.body);
        for (l, language) in [(&en, "en"), (&fr, "fr"), (&es, "es")] {
            assert!(l.body.contains(&exchange.to_string()), "{language}: exchange id");
            assert!(l.body.contains(&message.to_string()), "{language}: message id");
            assert!(l.body.contains("2026-"), "{language}: date");
        }
        // No English label is left in the other languages.
        for english in ["Exchange:", "From:", "Kind:", "Received:", "received", "end-to-end"] {
            assert!(!fr.body.contains(english), "French text has {english:?}: {}", fr.body);
            assert!(!es.body.contains(english), "Spanish text has {english:?}: {}", es.body);
        }
        let consent = Event::ConsentRequestReceived { exchange, message, from: state("MEX"), at };
        assert!(letter(&consent, "SWE", Language::Es).subject.contains("Una solicitud de consentimiento de MEX"));
    }

    #[test]
    fn an_overdue_exchange_names_its_date_and_who_has_not_answered() {
        let (exchange, _) = ids();
        let due = 1_796_256_000; // 2026-12-03 00:00 UTC
        let event = Event::ResponseOverdue { exchange, waiting_for: vec![state("SWE"), state("FRA")], due };
        let en = letter(&event, "MEX", Language::En);
        assert_eq!(en.subject, format!("[veim MEX] Response date passed (exchange {exchange})"));
        assert!(en.body.contains("passed its response date (2026-12-03 00:00 UTC) without a response from SWE, FRA."));
        assert!(en.body.contains("No response from: SWE, FRA"), "{}", en.body);
        let fr = letter(&event, "MEX", Language::Fr);
        assert!(fr.body.contains("a dépassé sa date de réponse (2026-12-03 00:00 UTC) sans réponse de SWE, FRA."));
        let es = letter(&event, "MEX", Language::Es);
        assert!(es.subject.contains("Fecha de respuesta superada"), "{}", es.subject);
        assert!(es.body.contains("Sin respuesta de: SWE, FRA"), "{}", es.body);
    }

    #[test]
    fn an_invitation_gives_the_notice_in_the_contacts_language() {
        let notice = MeetingNotice {
            title: "Annual Meeting of National Points of Contact".into(),
            csp_date: "2027-08-23".into(),
            starts_on: "2027-08-22".into(),
            ends_on: "2027-08-22".into(),
            venue: Venue::InPerson("Geneva".into()),
            languages: vec![Language::En, Language::Fr, Language::Es],
            agenda: vec!["Article 11 exchanges".into(), "Recommendations".into()],
            registration_deadline: 1_815_000_000,
        };
        let en = invitation(&notice, 4, state("MEX"), "Ana Ruiz", Language::En);
        assert_eq!(
            en.subject,
            "[veim] Invitation: Annual Meeting of National Points of Contact, 2027-08-22 to 2027-08-22"
        );
        assert!(en.body.starts_with("Dear Ana Ruiz,\n"), "{}", en.body);
        assert!(en.body.contains("points of contact of MEX"), "{}", en.body);
        assert!(en.body.contains("Venue: in person, Geneva"), "{}", en.body);
        assert!(en.body.contains("Languages: English, French, Spanish"), "{}", en.body);
        assert!(en.body.contains("  2. Recommendations"), "{}", en.body);
        assert!(en.body.contains("publication 4"), "{}", en.body);
        let fr = invitation(&notice, 4, state("MEX"), "Ana Ruiz", Language::Fr);
        assert!(fr.body.contains("Lieu : en présentiel, Geneva"), "{}", fr.body);
        assert!(fr.body.contains("Langues : anglais, français, espagnol"), "{}", fr.body);
        let es = invitation(&notice, 4, state("MEX"), "Ana Ruiz", Language::Es);
        assert!(es.subject.starts_with("[veim] Invitación:"), "{}", es.subject);
        assert!(es.body.contains("Idiomas: inglés, francés, español"), "{}", es.body);
        for english in ["Dear", "Venue", "Languages", "Registrations", "Draft agenda", "publication 4 of"] {
            assert!(!fr.body.contains(english), "French text has {english:?}: {}", fr.body);
            assert!(!es.body.contains(english), "Spanish text has {english:?}: {}", es.body);
        }
        assert_eq!(signature(SECRETARIAT, Language::Fr), "Envoyé par le nœud veim du Secrétariat du TCA.");
    }
}
