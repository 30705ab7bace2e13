//! Checks the test vectors of `SPEC.md` against the crate.
//!
//! Every `vector: NAME` line of the SPEC is followed by a fenced block holding
//! the value in hex (a fingerprint keeps its spaces). This test recomputes every
//! value from the fixed inputs with the crate's public API and compares; a
//! vector missing from the SPEC, an unknown one, or a different value fails.
//!
//! After a deliberate change of the format, the failure message of
//! `spec_vectors_match_the_crate` holds every vector in the SPEC's format.

use hpke::Serializable;
use rand_core::{TryCryptoRng, TryRng};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::convert::Infallible;
use veim_protocol::attachment::{
    AttachmentRef, Attachments, ChunkError, MAX_ATTACHMENT, MAX_CHUNK, MAX_FILES, TAG, open_chunk, seal_chunk,
};
use veim_protocol::audit::{
    self, Action, Actor, AuditError, Checkpoint, Entry, Event, ExportLine, LogReport, SignedCheckpoint,
};
use veim_protocol::codec::{self, MAX_FRAME};
use veim_protocol::consent::MAX_ITEMS;
use veim_protocol::contacts::{ContactField, ContactRole, ContactSet, PointOfContact, SignedContactSet, Visibility};
use veim_protocol::directory::{DirectoryError, Succession};
use veim_protocol::disclosure::{self, ConsentSummary, DisclosedItem, DisclosedMessage, Package, PackageError, Proofs};
use veim_protocol::envelope::{Draft, EnvelopeError, Recipient, content_commitment};
use veim_protocol::ids::{AttachmentId, DisclosureId};
use veim_protocol::keys::domain;
use veim_protocol::meeting::{
    Language as MeetingLanguage, MeetingError, MeetingNotice, MeetingRegistration, Participant,
    SignedMeetingRegistration, Venue,
};
use veim_protocol::progress::{CalendarDate, Closing, Measure, MeasureKind, Outcome, RespondBy, StageMove};
use veim_protocol::publication::{
    MeasureKind as ReportedMeasureKind, MeasuresReport, PublicationContent, PublicationError, ReportedMeasure,
    SignedMeasuresReport, SignedPublication,
};
use veim_protocol::report::{
    self, Approval, ApprovalBody, CspReport, Figures, Language, ReportError, ReportFile, ReportRegistration, Section,
    SignedCspReport, SignedReportRegistration,
};
use veim_protocol::request::{
    ArmsCategory, ItemDescription, Money, Provision, Stage, TransferInformation, is_forbidden_control,
};
use veim_protocol::response::commitment;
use veim_protocol::wire::{
    ContactsStatus, Inventory, MAX_INVENTORY, NetRequest, NetResponse, Refusal, RefusalCode, RegistrationStatus,
    ReportStatus,
};
use veim_protocol::{
    Authority, AuthorityKind, Body, Bytes32, Close, ConsentRecord, ConsentRequest, Decision, DirectoryEntry,
    DirectoryVersion, EncryptionKeypair, EntryAction, EntryStatus, Envelope, ExchangeId, Handling, Header,
    IdentityKeypair, InformationItem, ItemRef, KeyRotation, MessageContext, MessageId, MessageKind, Note, Receipt,
    Registration, Request, Response, Revocation, SecretariatHandover, SignedConsent, SignedDirectoryVersion,
    SignedItemStatement, SignedKeyRotation, SignedReceipt, SignedRegistration, StateCode,
};

const SPEC: &str = include_str!("../SPEC.md");

/// 2026-01-01T00:00:00Z, when MEX signs its registration.
const REGISTRATION_SIGNED_AT: i64 = 1_767_225_600;
/// 2026-01-01T01:00:00Z, when the Secretariat admits MEX and issues version 1.
const DIRECTORY_ISSUED_AT: i64 = 1_767_229_200;
/// 2026-01-01T12:00:00Z, when MEX seals the note.
const CREATED_AT: i64 = 1_767_268_800;
/// Two seconds later, when SWE has stored it.
const STORED_AT: i64 = 1_767_268_802;
/// 2026-01-01T02:00:00Z, when MEX signs its points of contact.
const CONTACTS_SUBMITTED_AT: i64 = 1_767_232_800;
/// 2026-01-01T03:00:00Z, when MEX signs the rotation to its new keys.
const ROTATION_SIGNED_AT: i64 = 1_767_236_400;
/// 2026-01-01T04:00:00Z, when the Secretariat hands over to its new key.
const HANDOVER_ISSUED_AT: i64 = 1_767_240_000;
const HANDOVER_CHANGE: &str = "Hand over to a new Secretariat key";
const NOTE_TEXT: &str = "Please confirm that end-user certificate EUC-2016-114 was issued by your ministry.";
const ADDRESS: &str = "/ip4/192.0.2.7/tcp/7040";
const OPERATOR: &str = "Secretaría de Relaciones Exteriores";
const CHANGE: &str = "Admit MEX";
/// 2026-01-01T13:00:00Z, when SWE sends its response to MEX.
const RESPONSE_CREATED_AT: i64 = 1_767_272_400;
/// 2026-01-01T15:00:00Z, when SWE grants it.
const CONSENT_DECIDED_AT: i64 = 1_767_279_600;
/// 2027-01-01T00:00:00Z, when SWE's grant expires.
const CONSENT_EXPIRES_AT: i64 = 1_798_761_600;
/// 2026-01-01T16:00:00Z, when MEX makes its disclosure package.
const DISCLOSED_AT: i64 = 1_767_283_200;
/// 2026-01-01T05:00:00Z, when the Secretariat, under its new key, admits SWE
/// in directory version 3.
const DIRECTORY_3_ISSUED_AT: i64 = 1_767_243_600;
const RESPONSE_SUMMARY: &str = "EUC-2016-114 was not issued by this ministry.";
const CASE_REFERENCE: &str = "CP-112/2026";
const PURPOSE: &str = "Prosecution of the broker for arms trafficking.";
/// 2026-01-01T12:01:00Z, when MEX's node signs a checkpoint of its audit log.
const CHECKPOINT_AT: i64 = 1_767_268_860;
/// The file MEX attaches (section 12.14): ten bytes, in chunks of four.
const ATTACHMENT_FILE: &[u8] = b"0123456789";
const ATTACHMENT_NAME: &str = "serials.txt";
const ATTACHMENT_CHUNK_SIZE: u32 = 4;
const ATTACHMENT_TEXT: &str = "Serial numbers of the consignment.";
/// 2027-01-15T09:00:00Z, when MEX drafts its joint report with SWE.
const REPORT_DRAFTED_AT: i64 = 1_799_998_800;
/// 2027-01-20T10:00:00Z, when the Secretariat registers it.
const REPORT_REGISTERED_AT: i64 = 1_800_439_200;
/// 2026-01-01T06:00:00Z, when MEX signs its report of measures (section 12.19).
const REPORT_SIGNED_AT: i64 = 1_767_247_200;
/// 2026-01-01T07:00:00Z, when the Secretariat circulates it as publication 1.
const CIRCULATED_AT: i64 = 1_767_250_800;
/// 2026-01-01T08:00:00Z, when it publishes the meeting notice as publication 2.
const NOTICE_AT: i64 = 1_767_254_400;
/// 2026-01-01T09:00:00Z, when MEX signs its meeting registration.
const MEETING_REGISTERED_AT: i64 = 1_767_258_000;

/// MEX's report of measures (section 12.19): one measure, citing the
/// exchange of the note by id.
fn measures_report(world: &World) -> SignedMeasuresReport {
    let report = MeasuresReport {
        state: state("MEX"),
        title: "Measures taken in 2025".into(),
        measures: vec![ReportedMeasure {
            provision: Provision::Art11_4,
            kind: ReportedMeasureKind::ShipmentExamined,
            date: CalendarDate::parse("2025-11-03").expect("date"),
            text: "A consignment in transit was examined.".into(),
        }],
        text: String::new(),
        exchanges: vec![ExchangeId(world.exchange_id)],
        signed_at: REPORT_SIGNED_AT,
    };
    SignedMeasuresReport::sign(report, &world.mex).expect("sign report")
}

/// The notice of section 12.19.
fn meeting_notice() -> MeetingNotice {
    MeetingNotice {
        title: "Annual meeting".into(),
        csp_date: "2026-08-24".into(),
        starts_on: "2026-08-23".into(),
        ends_on: "2026-08-23".into(),
        venue: Venue::InPerson("Geneva".into()),
        languages: vec![MeetingLanguage::En, MeetingLanguage::Es],
        agenda: vec!["Opening".into()],
        registration_deadline: 1_786_924_799,
    }
}

/// Publications 1 (the report, circulated to MEX and SWE) and 2 (the
/// notice, to MEX), signed with the Secretariat's key of after the handover.
fn publications(world: &World) -> [SignedPublication; 2] {
    let key = &world.secretariat_new;
    let audience = vec![state("SWE"), state("MEX")];
    let first = SignedPublication::sign(
        1,
        [0; 32],
        CIRCULATED_AT,
        audience,
        PublicationContent::CirculatedReport(measures_report(world)),
        key,
    )
    .expect("sign publication 1");
    let second = SignedPublication::sign(
        2,
        first.header.hash().expect("hash"),
        NOTICE_AT,
        vec![state("MEX")],
        PublicationContent::MeetingNotice(meeting_notice()),
        key,
    )
    .expect("sign publication 2");
    [first, second]
}

/// MEX's registration of its point of contact (section 12.8) for the meeting.
fn meeting_registration(world: &World) -> SignedMeetingRegistration {
    let registration = MeetingRegistration {
        state: state("MEX"),
        notice: 2,
        participants: vec![Participant {
            name: "Ana Ruiz".into(),
            email: "poc@sre.example.mx".into(),
            language: MeetingLanguage::Es,
        }],
        signed_at: MEETING_REGISTERED_AT,
    };
    SignedMeetingRegistration::sign(registration, &world.mex).expect("sign registration")
}

/// The one item of SWE's response.
fn response_item() -> InformationItem {
    InformationItem::Broker {
        name: "Atlas Freight Ltd".into(),
        details: "Chartered the flight that carried the consignment.".into(),
    }
}

/// The restrictions SWE sets on its response: the terms of reference, except
/// that MEX may pass the information on to another State Party; one
/// condition; no use after 2027.
fn response_handling() -> Handling {
    Handling {
        diversion_only: true,
        no_court_without_consent: true,
        no_onward_without_consent: false,
        conditions: vec!["Do not name the source in public.".into()],
        use_until: Some("2027-12-31".into()),
    }
}

/// The court MEX asks SWE's consent to disclose the item to.
fn court() -> Authority {
    Authority {
        kind: AuthorityKind::Court,
        name: "Juzgado Primero de Distrito en Materia Penal".into(),
        state: state("MEX"),
    }
}

/// MEX's points of contact: one national point of contact, public, whose
/// telephone is kept out of the public section.
fn contact_set() -> ContactSet {
    ContactSet {
        state: state("MEX"),
        entry_visibility: Visibility::Public,
        contacts: vec![PointOfContact {
            name: "Ana Ruiz".into(),
            job_title: "Director".into(),
            ministry: "SRE".into(),
            emails: vec!["poc@sre.example.mx".into()],
            phones: vec!["+52 55 3686 5100".into()],
            office_address: String::new(),
            languages: vec!["es".into(), "en".into()],
            role: ContactRole::NationalPoc,
            visibility: Visibility::Public,
            restricted_fields: vec![ContactField::Phones],
        }],
        submitted_at: CONTACTS_SUBMITTED_AT,
    }
}

/// The encoding of the identity point (`x = 0`, `y = 1`): a key of small order.
const IDENTITY_POINT: [u8; 32] = hex32("0100000000000000000000000000000000000000000000000000000000000000");
/// The identity point again, with `y = p + 1` (`p = 2^255 − 19`).
const IDENTITY_POINT_PLUS_P: [u8; 32] = hex32("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
/// A point of large order, `y = 3`, `x` even.
const Y_THREE: [u8; 32] = hex32("0300000000000000000000000000000000000000000000000000000000000000");
/// The same point, with `y = p + 3`.
const Y_THREE_PLUS_P: [u8; 32] = hex32("f0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
/// RFC 8032's base point `B`.
const BASE_POINT: [u8; 32] = hex32("5866666666666666666666666666666666666666666666666666666666666666");
/// The scalar 1.
const ONE: [u8; 32] = IDENTITY_POINT;
/// ℓ = 2^252 + 27742317777372353535851937790883648493, little-endian.
const GROUP_ORDER: [u8; 32] = hex32("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");

const fn hex32(s: &str) -> [u8; 32] {
    const fn digit(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("lower-case hex"),
        }
    }
    let s = s.as_bytes();
    assert!(s.len() == 64);
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = digit(s[2 * i]) << 4 | digit(s[2 * i + 1]);
        i += 1;
    }
    out
}

/// A fixed input: the first `N` bytes of SHA-256("veim test vector: " || label).
fn fixed<const N: usize>(label: &str) -> [u8; N] {
    let digest: [u8; 32] = Sha256::digest(format!("veim test vector: {label}")).into();
    let mut out = [0u8; N];
    out.copy_from_slice(&digest[..N]);
    out
}

/// A fixed id that `issuer` made (section 3.1): its code, then the first 13
/// bytes of SHA-256("veim test vector: " || label).
fn issued(issuer: &str, label: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..3].copy_from_slice(issuer.as_bytes());
    out[3..].copy_from_slice(&fixed::<13>(label));
    out
}

fn state(code: &str) -> StateCode {
    code.parse().expect("known State code")
}

/// A random number generator that hands out the bytes of a fixed script, in
/// order, and records the size of each draw.
#[derive(Debug)]
struct ScriptedRng {
    script: Vec<u8>,
    pos: usize,
    draws: Vec<usize>,
}

impl ScriptedRng {
    fn new(parts: &[&[u8]]) -> Self {
        Self { script: parts.concat(), pos: 0, draws: Vec::new() }
    }
}

impl TryRng for ScriptedRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let end = self.pos + dst.len();
        assert!(
            end <= self.script.len(),
            "the scripted RNG ran out: {} bytes asked at offset {} of {}",
            dst.len(),
            self.pos,
            self.script.len()
        );
        dst.copy_from_slice(&self.script[self.pos..end]);
        self.pos = end;
        self.draws.push(dst.len());
        Ok(())
    }
}

impl TryCryptoRng for ScriptedRng {}

/// Every fixed input and everything computed from it.
struct World {
    mex_identity_seed: [u8; 32],
    swe_identity_seed: [u8; 32],
    secretariat_identity_seed: [u8; 32],
    mex_x25519_secret: [u8; 32],
    swe_x25519_secret: [u8; 32],
    nga_x25519_secret: [u8; 32],
    outsider_x25519_secret: [u8; 32],
    message_id: [u8; 16],
    exchange_id: [u8; 16],
    content_key: [u8; 32],
    nonce: [u8; 12],
    ikm_e_swe: [u8; 32],
    ikm_e_nga: [u8; 32],
    ikm_e_mex: [u8; 32],
    mex_new_identity_seed: [u8; 32],
    mex_new_x25519_secret: [u8; 32],
    secretariat_new_identity_seed: [u8; 32],
    response_message_id: [u8; 16],
    consent_request_id: [u8; 16],
    item_salt: [u8; 32],
    attachment_id: [u8; 16],
    attachment_key: [u8; 32],

    mex: IdentityKeypair,
    swe: IdentityKeypair,
    secretariat: IdentityKeypair,
    mex_enc: EncryptionKeypair,
    swe_enc: EncryptionKeypair,
    nga_enc: EncryptionKeypair,
    outsider_enc: EncryptionKeypair,
    mex_new: IdentityKeypair,
    mex_new_enc: EncryptionKeypair,
    secretariat_new: IdentityKeypair,

    body: Body,
    envelope: Envelope,
    rng_draws: Vec<usize>,
    rng_left: usize,
    receipt: SignedReceipt,
    registration: SignedRegistration,
    directory: SignedDirectoryVersion,
    contacts: SignedContactSet,
    rotation: SignedKeyRotation,
    /// Directory version 2: the Secretariat hands over to its new key.
    handover: SignedDirectoryVersion,
    /// SWE's response to MEX, salted and attested.
    response: Response,
    /// The item statement SWE signed for it.
    statement: SignedItemStatement,
    /// MEX's request for consent to disclose the response's item.
    consent_request: ConsentRequest,
    /// SWE's grant.
    consent: SignedConsent,
    /// The first two entries of MEX's audit log: version 1 accepted, the note sent.
    audit_entries: Vec<Entry>,
    /// MEX's checkpoint of those two entries.
    checkpoint: SignedCheckpoint,
    /// MEX's tree head of the same two entries.
    tree_head: audit::SignedTreeHead,
    /// The hashes of entries 2 to 6 of MEX's log, fixed inputs: the log of 7
    /// entries that section 12.16 proves consistent with its first 2 and 3.
    later_entry_hashes: [[u8; 32]; 5],
    /// The file MEX attaches to a message to SWE.
    attachment: AttachmentRef,
    /// The body of that message.
    attachments: Attachments,
}

impl World {
    fn build() -> World {
        let mex_identity_seed = fixed("MEX identity seed");
        let swe_identity_seed = fixed("SWE identity seed");
        let secretariat_identity_seed = fixed("Secretariat identity seed");
        let mex_x25519_secret = fixed("MEX X25519 secret");
        let swe_x25519_secret = fixed("SWE X25519 secret");
        let nga_x25519_secret = fixed("NGA X25519 secret");
        let outsider_x25519_secret = fixed("outsider X25519 secret");
        let message_id = issued("MEX", "message id");
        let exchange_id = fixed("exchange id");
        let content_key = fixed("content key");
        let nonce = fixed("nonce");
        let ikm_e_swe = fixed("ikmE SWE");
        let ikm_e_nga = fixed("ikmE NGA");
        let ikm_e_mex = fixed::<32>("ikmE MEX");
        let mex_new_identity_seed = fixed("MEX new identity seed");
        let mex_new_x25519_secret = fixed("MEX new X25519 secret");
        let secretariat_new_identity_seed = fixed("Secretariat new identity seed");
        let response_message_id = issued("SWE", "response message id");
        let consent_request_id = issued("MEX", "consent request message id");
        let item_salt = fixed("item salt");
        let attachment_id = issued("MEX", "attachment id");
        let attachment_key = fixed("attachment key");

        let mex = IdentityKeypair::from_secret_bytes(&mex_identity_seed);
        let swe = IdentityKeypair::from_secret_bytes(&swe_identity_seed);
        let secretariat = IdentityKeypair::from_secret_bytes(&secretariat_identity_seed);
        let mex_enc = EncryptionKeypair::from_secret_bytes(&mex_x25519_secret);
        let swe_enc = EncryptionKeypair::from_secret_bytes(&swe_x25519_secret);
        let nga_enc = EncryptionKeypair::from_secret_bytes(&nga_x25519_secret);
        let outsider_enc = EncryptionKeypair::from_secret_bytes(&outsider_x25519_secret);
        let mex_new = IdentityKeypair::from_secret_bytes(&mex_new_identity_seed);
        let mex_new_enc = EncryptionKeypair::from_secret_bytes(&mex_new_x25519_secret);
        let secretariat_new = IdentityKeypair::from_secret_bytes(&secretariat_new_identity_seed);

        let body = Body::Note(Note { text: NOTE_TEXT.into(), handling: Handling::default() });
        let recipients = [
            Recipient { state: state("SWE"), encryption_key: swe_enc.public() },
            Recipient { state: state("NGA"), encryption_key: nga_enc.public() },
        ];
        let draft = Draft {
            message_id: MessageId(message_id),
            exchange_id: ExchangeId(exchange_id),
            sender: state("MEX"),
            recipients: &recipients,
            sender_encryption_key: mex_enc.public(),
            created_at: CREATED_AT,
            body: &body,
        };
        let mut rng = ScriptedRng::new(&[&content_key, &nonce, &ikm_e_swe, &ikm_e_nga, &ikm_e_mex]);
        let envelope = Envelope::seal(&draft, &mex, &mut rng).expect("seal");
        let rng_left = rng.script.len() - rng.pos;

        let receipt = SignedReceipt::sign(
            Receipt {
                message_id: MessageId(message_id),
                envelope_hash: envelope.hash().expect("envelope hash"),
                recipient: state("SWE"),
                stored_at: STORED_AT,
            },
            &swe,
        )
        .expect("sign receipt");

        let registration = SignedRegistration::sign(
            Registration {
                state: state("MEX"),
                identity_key: mex.public(),
                encryption_key: mex_enc.public(),
                addresses: vec![ADDRESS.into()],
                operator: OPERATOR.into(),
                signed_at: REGISTRATION_SIGNED_AT,
            },
            &mex,
        )
        .expect("sign registration");

        let directory = SignedDirectoryVersion::sign(
            DirectoryVersion {
                version: 1,
                previous_hash: [0; 32],
                issued_at: DIRECTORY_ISSUED_AT,
                change: CHANGE.into(),
                entries: vec![DirectoryEntry {
                    registration: registration.clone(),
                    status: EntryStatus::Active,
                    admitted_at: DIRECTORY_ISSUED_AT,
                    contacts: None,
                    rotated_from: None,
                }],
                handover: None,
            },
            &secretariat,
        )
        .expect("sign directory");

        let contacts = SignedContactSet::sign(contact_set(), &mex).expect("sign contacts");

        let new_registration = SignedRegistration::sign(
            Registration {
                identity_key: mex_new.public(),
                encryption_key: mex_new_enc.public(),
                signed_at: ROTATION_SIGNED_AT,
                ..registration.registration.clone()
            },
            &mex_new,
        )
        .expect("sign the new registration");
        let rotation =
            SignedKeyRotation::sign(KeyRotation { previous_key: mex.public(), registration: new_registration }, &mex)
                .expect("sign rotation");

        let handover = SignedDirectoryVersion::sign(
            DirectoryVersion {
                version: 2,
                previous_hash: directory.hash().expect("hash"),
                issued_at: HANDOVER_ISSUED_AT,
                change: HANDOVER_CHANGE.into(),
                entries: directory.body.entries.clone(),
                handover: Some(SecretariatHandover::new(&secretariat.public(), &secretariat_new)),
            },
            &secretariat,
        )
        .expect("sign the handover version");

        let mut response = Response {
            summary: RESPONSE_SUMMARY.into(),
            items: vec![response_item()],
            handling: response_handling(),
            salts: Vec::new(),
            attestation: [0; 64],
        };
        let context = response_context(response_message_id, exchange_id);
        let mut salt_rng = ScriptedRng::new(&[&item_salt]);
        response.attest(context.clone(), &swe, &mut salt_rng).expect("attest");
        assert_eq!((salt_rng.draws.as_slice(), salt_rng.pos), ([32].as_slice(), 32), "one 32-byte salt per item");
        let statement = response.signed_statement(context).expect("statement");

        let item_ref = ItemRef { message_id: MessageId(response_message_id), index: 0 };
        let consent_request = ConsentRequest {
            items: vec![item_ref],
            authority: court(),
            purpose: PURPOSE.into(),
            case_reference: CASE_REFERENCE.into(),
        };
        let consent = SignedConsent::sign(
            ConsentRecord {
                exchange_id: ExchangeId(exchange_id),
                consent_request: MessageId(consent_request_id),
                grantor: state("SWE"),
                grantee: state("MEX"),
                authority: court(),
                purpose: PURPOSE.into(),
                case_reference: CASE_REFERENCE.into(),
                decision: Decision::Granted {
                    items: vec![item_ref],
                    conditions: vec!["Disclose in closed session only.".into()],
                    expires_at: Some(CONSENT_EXPIRES_AT),
                },
                decided_at: CONSENT_DECIDED_AT,
            },
            &swe,
        )
        .expect("sign consent");

        let (audit_entries, checkpoint) = audit_log(&mex, &directory, &envelope, message_id, exchange_id);
        let two = veim_protocol::merkle::Tree::from_entries(&audit_entries.iter().map(entry_hash).collect::<Vec<_>>());
        let tree_head = audit::SignedTreeHead::sign(
            audit::TreeHead {
                node: Some(state("MEX")),
                identity_key: mex.public(),
                count: 2,
                root: two.root(2).expect("root"),
                at: CHECKPOINT_AT,
                restore: None,
            },
            &mex,
        )
        .expect("sign tree head");
        let later_entry_hashes = [2, 3, 4, 5, 6].map(|i| fixed(&format!("audit entry hash {i}")));

        let attachment = AttachmentRef {
            id: AttachmentId(attachment_id),
            name: ATTACHMENT_NAME.into(),
            size: ATTACHMENT_FILE.len() as u64,
            sha256: Bytes32(Sha256::digest(ATTACHMENT_FILE).into()),
            chunk_size: ATTACHMENT_CHUNK_SIZE,
            key: Bytes32(attachment_key),
        };
        let attachments = Attachments {
            text: ATTACHMENT_TEXT.into(),
            files: vec![attachment.clone()],
            handling: Handling::default(),
        };

        World {
            mex_identity_seed,
            swe_identity_seed,
            secretariat_identity_seed,
            mex_x25519_secret,
            swe_x25519_secret,
            nga_x25519_secret,
            outsider_x25519_secret,
            message_id,
            exchange_id,
            content_key,
            nonce,
            ikm_e_swe,
            ikm_e_nga,
            ikm_e_mex,
            mex_new_identity_seed,
            mex_new_x25519_secret,
            secretariat_new_identity_seed,
            response_message_id,
            consent_request_id,
            item_salt,
            attachment_id,
            attachment_key,
            mex,
            swe,
            secretariat,
            mex_enc,
            swe_enc,
            nga_enc,
            outsider_enc,
            mex_new,
            mex_new_enc,
            secretariat_new,
            body,
            envelope,
            rng_draws: rng.draws,
            rng_left,
            receipt,
            registration,
            directory,
            contacts,
            rotation,
            handover,
            response,
            statement,
            consent_request,
            consent,
            audit_entries,
            checkpoint,
            tree_head,
            later_entry_hashes,
            attachment,
            attachments,
        }
    }

    /// MEX's inventory for SWE (section 12.6): the exchange of the note, with
    /// the note SWE acknowledged and the response MEX received from SWE.
    fn inventory(&self) -> Inventory {
        Inventory {
            exchanges: vec![(
                ExchangeId(self.exchange_id),
                vec![MessageId(self.message_id), MessageId(self.response_message_id)],
            )],
            returned: Vec::new(),
        }
    }

    /// Mexico's tree head of its two-entry log, offered with no proof.
    fn tree_witness(&self) -> veim_protocol::wire::TreeWitness {
        veim_protocol::wire::TreeWitness { head: self.tree_head.clone(), proof: None }
    }

    /// The tree of MEX's log grown to 7 entries: the two of section 12.13,
    /// then the five fixed entry hashes.
    fn audit_tree(&self) -> veim_protocol::merkle::Tree {
        let mut hashes: Vec<Bytes32> = self.audit_entries.iter().map(entry_hash).collect();
        hashes.extend(self.later_entry_hashes.map(Bytes32));
        veim_protocol::merkle::Tree::from_entries(&hashes)
    }

    /// Chunk `index` of the attached file, sealed by the crate (section 6.8).
    fn sealed_chunk(&self, index: u64) -> Vec<u8> {
        let start = (index * u64::from(ATTACHMENT_CHUNK_SIZE)) as usize;
        let len = self.attachment.chunk_len(index) as usize;
        seal_chunk(&self.attachment, index, &ATTACHMENT_FILE[start..start + len]).expect("seal chunk")
    }

    /// SWE's request for chunk `index` of the attached file.
    fn fetch_chunk(&self, index: u64) -> NetRequest {
        NetRequest::FetchChunk { attachment: AttachmentId(self.attachment_id), index }
    }

    /// Sweden's receipt of section 12.4 with `S + ℓ` in place of `S`: the
    /// same `[S]B`, so a verifier that does not require `S < ℓ` accepts it.
    fn receipt_s_plus_l(&self) -> SignedReceipt {
        let mut signature = self.receipt.signature;
        let mut carry = 0u16;
        for (s, l) in signature[32..].iter_mut().zip(GROUP_ORDER) {
            let sum = u16::from(*s) + u16::from(l) + carry;
            *s = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0, "S + ℓ < 2^256");
        SignedReceipt { signature, ..self.receipt.clone() }
    }

    /// The `SecretariatHandover` that directory version 2 carries.
    fn handover_record(&self) -> &SecretariatHandover {
        self.handover.body.handover.as_ref().expect("version 2 carries a handover")
    }

    /// Every vector of the SPEC, in the order it lists them: name and value.
    fn vectors(&self) -> Vec<(&'static str, String)> {
        let env = &self.envelope;
        let swe_share = &env.key_shares[0];
        let nga_share = &env.key_shares[1];
        let mex_share = &env.key_shares[2];
        let fetch = NetRequest::FetchDirectory { after: 0 };
        let updated = NetRequest::DirectoryUpdated { version: 2 };
        let refused = NetResponse::Refused(Refusal { code: RefusalCode::Replay, detail: "message seen before".into() });
        let package = spec_package(self);
        let tree = self.audit_tree();
        let report = spec_report(self);
        let swe_approval_body =
            ApprovalBody { draft_hash: report.signed.draft.draft_hash().expect("hash"), signer: state("SWE") };
        let measures = measures_report(self);
        let published = publications(self);
        let registration = meeting_registration(self);
        vec![
            ("input.mex-identity-seed", h(self.mex_identity_seed)),
            ("input.swe-identity-seed", h(self.swe_identity_seed)),
            ("input.secretariat-identity-seed", h(self.secretariat_identity_seed)),
            ("input.mex-x25519-secret", h(self.mex_x25519_secret)),
            ("input.swe-x25519-secret", h(self.swe_x25519_secret)),
            ("input.nga-x25519-secret", h(self.nga_x25519_secret)),
            ("input.outsider-x25519-secret", h(self.outsider_x25519_secret)),
            ("input.message-id", h(self.message_id)),
            ("input.exchange-id", h(self.exchange_id)),
            ("input.mex-new-identity-seed", h(self.mex_new_identity_seed)),
            ("input.mex-new-x25519-secret", h(self.mex_new_x25519_secret)),
            ("input.secretariat-new-identity-seed", h(self.secretariat_new_identity_seed)),
            ("input.response-message-id", h(self.response_message_id)),
            ("input.consent-request-id", h(self.consent_request_id)),
            ("random.content-key", h(self.content_key)),
            ("random.nonce", h(self.nonce)),
            ("random.ikm-e.swe", h(self.ikm_e_swe)),
            ("random.ikm-e.nga", h(self.ikm_e_nga)),
            ("random.ikm-e.mex", h(self.ikm_e_mex)),
            ("random.item-salt", h(self.item_salt)),
            ("random.attachment-id", h(self.attachment_id)),
            ("random.attachment-key", h(self.attachment_key)),
            ("key.mex-identity-public", h(self.mex.public().0)),
            ("key.swe-identity-public", h(self.swe.public().0)),
            ("key.secretariat-identity-public", h(self.secretariat.public().0)),
            ("key.mex-x25519-public", h(self.mex_enc.public())),
            ("key.swe-x25519-public", h(self.swe_enc.public())),
            ("key.nga-x25519-public", h(self.nga_enc.public())),
            ("key.outsider-x25519-public", h(self.outsider_enc.public())),
            ("key.mex-fingerprint", self.mex.public().fingerprint()),
            ("key.mex-new-identity-public", h(self.mex_new.public().0)),
            ("key.mex-new-x25519-public", h(self.mex_new_enc.public())),
            ("key.mex-new-fingerprint", self.mex_new.public().fingerprint()),
            ("key.secretariat-new-identity-public", h(self.secretariat_new.public().0)),
            ("key.secretariat-new-fingerprint", self.secretariat_new.public().fingerprint()),
            ("envelope.body", h(enc("body", &self.body))),
            ("envelope.content-commitment", h(content_commitment(&self.content_key).0)),
            ("envelope.header", h(enc("header", &env.header))),
            ("envelope.hpke-info.swe", h(veim_protocol::keys::domain_separated(domain::CONTENT_KEY, b"SWE"))),
            ("envelope.key-share.swe.enc", h(swe_share.enc)),
            ("envelope.key-share.swe.wrapped-key", h(swe_share.wrapped_key)),
            ("envelope.key-share.nga.enc", h(nga_share.enc)),
            ("envelope.key-share.nga.wrapped-key", h(nga_share.wrapped_key)),
            ("envelope.key-share.mex.enc", h(mex_share.enc)),
            ("envelope.key-share.mex.wrapped-key", h(mex_share.wrapped_key)),
            ("envelope.ciphertext", h(&env.ciphertext)),
            ("envelope.signature", h(env.signature)),
            ("envelope.bytes", h(enc("envelope", env))),
            ("envelope.hash", h(env.hash().expect("envelope hash"))),
            ("receipt.bytes", h(enc("receipt", &self.receipt))),
            ("registration.bytes", h(enc("registration", &self.registration))),
            ("directory.bytes", h(enc("directory", &self.directory))),
            ("directory.hash", h(self.directory.hash().expect("hash"))),
            ("frame.fetch-directory", h(frame(&enc("request", &fetch)))),
            ("frame.refused", h(frame(&enc("response", &refused)))),
            ("frame.directory-updated", h(frame(&enc("request", &updated)))),
            ("frame.acknowledged", h(frame(&enc("response", &NetResponse::Acknowledged)))),
            ("frame.reconcile", h(frame(&enc("request", &NetRequest::Reconcile(Box::new(self.inventory())))))),
            ("exchange-id.hash-input", h(exchange_id_hash_input(self.message_id))),
            ("exchange-id.for-request", h(ExchangeId::for_request(state("MEX"), MessageId(self.message_id)).0)),
            ("contacts.set", h(enc("contact set", &self.contacts.set))),
            ("contacts.signature", h(self.contacts.signature)),
            ("contacts.bytes", h(enc("signed contact set", &self.contacts))),
            ("contacts.hash", h(self.contacts.hash().expect("contacts hash"))),
            ("rotation.body", h(enc("key rotation", &self.rotation.rotation))),
            ("rotation.signature", h(self.rotation.signature)),
            ("rotation.bytes", h(enc("signed key rotation", &self.rotation))),
            ("handover.signature", h(self.handover_record().next_key_signature)),
            ("handover.bytes", h(enc("handover", self.handover_record()))),
            ("handover.directory-bytes", h(enc("directory", &self.handover))),
            ("handover.directory-hash", h(self.handover.hash().expect("hash"))),
            ("item.bytes", h(enc("information item", &self.response.items[0]))),
            ("item.commitment", h(commitment(&Bytes32(self.item_salt), &self.response.items[0]).expect("commit").0)),
            ("statement.body", h(enc("item statement", &self.statement.statement))),
            ("statement.signature", h(self.statement.signature)),
            ("statement.bytes", h(enc("signed item statement", &self.statement))),
            ("response.body", h(enc("body", &Body::Response(self.response.clone())))),
            ("consent.record", h(enc("consent record", &self.consent.record))),
            ("consent.signature", h(self.consent.signature)),
            ("consent.bytes", h(enc("signed consent", &self.consent))),
            ("audit.entry-0.bytes", h(enc("audit entry", &self.audit_entries[0]))),
            ("audit.entry-0.hash", h(self.audit_entries[0].hash().expect("hash").0)),
            ("audit.entry-1.bytes", h(enc("audit entry", &self.audit_entries[1]))),
            ("audit.entry-1.hash", h(self.audit_entries[1].hash().expect("hash").0)),
            ("audit.checkpoint.body", h(enc("audit checkpoint", &self.checkpoint.checkpoint))),
            ("audit.checkpoint.signature", h(self.checkpoint.signature)),
            ("audit.checkpoint.bytes", h(enc("signed audit checkpoint", &self.checkpoint))),
            ("attachment.sha256", h(self.attachment.sha256.0)),
            ("attachment.ref", h(enc("attachment", &self.attachment))),
            ("attachment.body", h(enc("body", &Body::Attachments(self.attachments.clone())))),
            ("attachment.chunk-1.aad", h(chunk_aad(self.attachment_id, 1, 3))),
            ("attachment.chunk-1.nonce", h(chunk_nonce(1))),
            ("attachment.chunk-1.sealed", h(self.sealed_chunk(1))),
            ("frame.fetch-chunk", h(frame(&enc("request", &self.fetch_chunk(1))))),
            ("frame.chunk", h(frame(&enc("response", &NetResponse::Chunk(self.sealed_chunk(1)))))),
            ("input.disclosure-id", h(fixed::<16>("disclosure id"))),
            ("random.response-content-key", h(fixed::<32>("response content key"))),
            ("random.response-nonce", h(fixed::<12>("response nonce"))),
            ("random.response-ikm-e.mex", h(fixed::<32>("response ikmE MEX"))),
            ("disclosure.directory", h(enc("directory", &directory_with_swe(self)))),
            ("disclosure.envelope", h(enc("envelope", &response_envelope(self)))),
            ("disclosure.signed-bytes", h(package.signed_bytes().expect("encode"))),
            ("disclosure.signature", package.signature.clone()),
            ("disclosure.json-sha256", h(Sha256::digest(package_json(&package)))),
            ("input.audit-entry-hash-2", h(self.later_entry_hashes[0])),
            ("input.audit-entry-hash-3", h(self.later_entry_hashes[1])),
            ("input.audit-entry-hash-4", h(self.later_entry_hashes[2])),
            ("input.audit-entry-hash-5", h(self.later_entry_hashes[3])),
            ("input.audit-entry-hash-6", h(self.later_entry_hashes[4])),
            ("tree.root-2", h(tree.root(2).expect("root").0)),
            ("tree.head.body", h(enc("tree head", &self.tree_head.head))),
            ("tree.head.signature", h(self.tree_head.signature)),
            ("tree.head.bytes", h(enc("signed tree head", &self.tree_head))),
            ("tree.root-3", h(tree.root(3).expect("root").0)),
            ("tree.root-7", h(tree.root(7).expect("root").0)),
            ("tree.proof-2-7", h(tree.consistency(2, 7).expect("proof").concat_bytes())),
            ("tree.proof-3-7", h(tree.consistency(3, 7).expect("proof").concat_bytes())),
            ("strict.identity-key", h(IDENTITY_POINT)),
            ("strict.identity-key-non-canonical", h(IDENTITY_POINT_PLUS_P)),
            ("strict.large-key", h(Y_THREE)),
            ("strict.large-key-non-canonical", h(Y_THREE_PLUS_P)),
            ("strict.signature", h([BASE_POINT, ONE].concat())),
            ("strict.receipt-s-plus-l", h(enc("receipt", &self.receipt_s_plus_l()))),
            ("progress.measure.body", h(enc("body", &progress_bodies()[0]))),
            ("progress.stage-move.body", h(enc("body", &progress_bodies()[1]))),
            ("progress.respond-by.body", h(enc("body", &progress_bodies()[2]))),
            ("progress.closing.body", h(enc("body", &progress_bodies()[3]))),
            ("input.report-id", h(issued("MEX", "report id"))),
            ("report.draft", h(enc("csp report", &report.signed.draft))),
            ("report.draft-hash", h(report.signed.draft.draft_hash().expect("hash").0)),
            ("report.approval.swe.body", h(enc("approval", &swe_approval_body))),
            ("report.approval.mex.signature", h(report.signed.approvals[0].signature)),
            ("report.approval.swe.signature", h(report.signed.approvals[1].signature)),
            ("report.registration.body", h(enc("report registration", &report.registration.registration))),
            ("report.registration.signature", h(report.registration.signature)),
            ("report.file-sha256", h(Sha256::digest(serde_json::to_vec(&report.file).expect("json")))),
            ("report.body", h(enc("measures report", &measures.report))),
            ("report.signature", h(measures.signature)),
            ("report.bytes", h(enc("signed measures report", &measures))),
            ("report.id", h(measures.id().expect("id").0)),
            ("publication-1.content-hash", h(published[0].header.content_hash)),
            ("publication-1.header", h(enc("publication header", &published[0].header))),
            ("publication-1.signature", h(published[0].signature)),
            ("publication-1.hash", h(published[0].header.hash().expect("hash"))),
            ("publication-1.withheld", h(enc("publication", &published[0].withheld()))),
            ("publication-2.bytes", h(enc("publication", &published[1]))),
            ("meeting-registration.body", h(enc("meeting registration", &registration.registration))),
            ("meeting-registration.signature", h(registration.signature)),
            ("meeting-registration.bytes", h(enc("signed meeting registration", &registration))),
            ("frame.fetch-publications", h(frame(&enc("request", &NetRequest::FetchPublications { after: 1 })))),
        ]
    }
}

/// The progress records of section 12.18: Sweden's measure and stage move,
/// Mexico's respond-by date and its closing, in the exchange of section 12.1.
fn progress_bodies() -> [Body; 4] {
    let day = |s: &str| CalendarDate::parse(s).expect("date");
    [
        Body::Measure(Measure {
            provision: Provision::Art11_4,
            kind: MeasureKind::ShipmentExamined,
            date: day("2025-12-30"),
            text: "Crates opened at Arlanda.".into(),
            handling: Handling::default(),
        }),
        Body::StageMove(StageMove { stage: Stage::DiversionDetected, text: String::new() }),
        Body::RespondBy(RespondBy { date: day("2026-01-31"), text: String::new() }),
        Body::Closing(Closing { outcome: Outcome::DiversionPrevented, reason: "Shipment held.".into() }),
    ]
}

/// MEX's audit log as its node records it: entry 0, directory version 1
/// accepted from the Secretariat; entry 1, the note of section 12.3 sent by the
/// operator; and the checkpoint of the two, signed by MEX's identity key.
fn audit_log(
    mex: &IdentityKeypair,
    directory: &SignedDirectoryVersion,
    envelope: &Envelope,
    message_id: [u8; 16],
    exchange_id: [u8; 16],
) -> (Vec<Entry>, SignedCheckpoint) {
    let mut accepted = Event::new(DIRECTORY_ISSUED_AT, Actor::Peer(None), Action::DirectoryAccepted);
    accepted.object = Some("directory version 1".into());
    accepted.hash = Some(Bytes32(directory.hash().expect("directory hash")));
    accepted.detail = CHANGE.into();
    let first = Entry { seq: 0, previous: Bytes32([0; 32]), event: accepted };
    let mut sent = Event::new(CREATED_AT, Actor::Operator, Action::MessageSent);
    sent.exchange = Some(ExchangeId(exchange_id));
    sent.message = Some(MessageId(message_id));
    sent.kind = Some(MessageKind::Note);
    sent.hash = Some(Bytes32(envelope.hash().expect("envelope hash")));
    let second = Entry { seq: 1, previous: first.hash().expect("hash"), event: sent };
    let checkpoint = Checkpoint {
        node: Some(state("MEX")),
        identity_key: mex.public(),
        count: 2,
        head: second.hash().expect("hash"),
        at: CHECKPOINT_AT,
        restore: None,
    };
    let signed = SignedCheckpoint::sign(checkpoint, mex).expect("sign checkpoint");
    (vec![first, second], signed)
}

/// The header fields SWE's response binds: sent to MEX alone, in the exchange
/// of the note.
fn response_context(message_id: [u8; 16], exchange_id: [u8; 16]) -> MessageContext {
    MessageContext {
        message_id: MessageId(message_id),
        exchange_id: ExchangeId(exchange_id),
        sender: state("SWE"),
        recipients: vec![state("MEX")],
        created_at: RESPONSE_CREATED_AT,
    }
}

/// `aad(i)` of section 6.8, built here from its description: the string,
/// 0x00, the attachment id, the index and the number of chunks, big-endian.
fn chunk_aad(id: [u8; 16], index: u64, chunks: u64) -> Vec<u8> {
    [b"veim/1 attachment chunk".as_slice(), &[0], &id, &index.to_be_bytes(), &chunks.to_be_bytes()].concat()
}

/// `nonce(i)` of section 6.8: four zero bytes, then the index, big-endian.
fn chunk_nonce(index: u64) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&index.to_be_bytes());
    nonce
}

/// What section 5.2 hashes for a request MEX sends with this message id.
fn exchange_id_hash_input(message_id: [u8; 16]) -> Vec<u8> {
    veim_protocol::keys::domain_separated(domain::EXCHANGE_ID, &[b"MEX".as_slice(), &message_id].concat())
}

fn entry_hash(entry: &Entry) -> Bytes32 {
    entry.hash().expect("entry hash")
}

/// The hashes of a consistency proof, one after the other.
trait ConcatBytes {
    fn concat_bytes(&self) -> Vec<u8>;
}

impl ConcatBytes for Vec<Bytes32> {
    fn concat_bytes(&self) -> Vec<u8> {
        self.iter().flat_map(|h| h.0).collect()
    }
}

/// A package as JSON, as the crate writes it: no whitespace, the fields in
/// the order of their tables.
fn package_json(package: &Package) -> Vec<u8> {
    serde_json::to_vec(package).expect("json")
}

fn h(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(bytes)
}

fn enc<T: serde::Serialize>(what: &'static str, value: &T) -> Vec<u8> {
    codec::encode(what, value).expect("encode")
}

/// A signed object's vectors: `{prefix}.bytes` decodes to `expected` and
/// encodes back to the same bytes, which are `{prefix}.{body}` followed by
/// the 64-byte `{prefix}.signature`. Returns the object, its bytes and the body.
fn signed_vector<T>(prefix: &str, body: &str, what: &'static str, expected: &T) -> (T, Vec<u8>, Vec<u8>)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = spec_bytes(&format!("{prefix}.bytes"));
    let signed: T = codec::decode::<_, MAX_FRAME>(what, &bytes).expect("decode");
    assert_eq!(signed, *expected);
    assert_eq!(enc(what, &signed), bytes);
    let body = spec_bytes(&format!("{prefix}.{body}"));
    assert_eq!(bytes[..bytes.len() - 64], body);
    assert_eq!(bytes[bytes.len() - 64..], spec_bytes(&format!("{prefix}.signature")));
    (signed, bytes, body)
}

/// The `/veim/2` framing: a 4-byte big-endian length, then the bytes.
fn frame(bytes: &[u8]) -> Vec<u8> {
    assert!(bytes.len() <= MAX_FRAME);
    let len = u32::try_from(bytes.len()).expect("frame length fits in u32");
    [len.to_be_bytes().as_slice(), bytes].concat()
}

/// The `vector: NAME` blocks of the SPEC: name and contents without whitespace.
/// A name given twice is an error.
fn spec_vectors() -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut lines = SPEC.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(name) = line.trim().strip_prefix("vector: ") else {
            continue;
        };
        let name = name.trim().to_string();
        match lines.next() {
            Some((_, fence)) if fence.trim().starts_with("```") => {}
            _ => {
                return Err(format!("line {}: `vector: {name}` is not followed by a code block", n + 1));
            }
        }
        let mut value = String::new();
        let mut closed = false;
        for (_, l) in lines.by_ref() {
            if l.trim().starts_with("```") {
                closed = true;
                break;
            }
            value.extend(l.chars().filter(|c| !c.is_whitespace()));
        }
        if !closed {
            return Err(format!("vector {name}: the code block is not closed"));
        }
        if out.insert(name.clone(), value).is_some() {
            return Err(format!("vector {name} is given twice"));
        }
    }
    Ok(out)
}

fn wrap(value: &str) -> String {
    if value.contains(' ') {
        return value.to_string();
    }
    value.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).expect("hex is ASCII")).collect::<Vec<_>>().join("\n")
}

#[test]
fn spec_vectors_match_the_crate() {
    let world = World::build();
    let spec = spec_vectors().expect("the SPEC's vector blocks parse");
    let mut problems = Vec::new();
    let computed = world.vectors();
    for (name, value) in &computed {
        let value: String = value.chars().filter(|c| !c.is_whitespace()).collect();
        match spec.get(*name) {
            None => problems.push(format!("vector {name} is missing from SPEC.md")),
            Some(given) if !given.eq_ignore_ascii_case(&value) => {
                problems.push(format!("vector {name} differs:\n  SPEC.md:  {given}\n  computed: {value}"))
            }
            Some(_) => {}
        }
    }
    for name in spec.keys() {
        if !computed.iter().any(|(n, _)| n == name) {
            problems.push(format!("SPEC.md gives vector {name}, which this test does not know"));
        }
    }
    if !problems.is_empty() {
        // After a deliberate change of the format, the blocks below replace
        // the SPEC's vectors.
        let blocks: Vec<String> =
            computed.iter().map(|(name, value)| format!("vector: {name}\n```\n{}\n```\n", wrap(value))).collect();
        panic!("{}\n\nComputed vectors, in the SPEC's format:\n\n{}", problems.join("\n"), blocks.join("\n"));
    }
}

#[test]
fn randomness_is_drawn_as_the_spec_says() {
    let world = World::build();
    // Content key, nonce, then one HPKE ikmE per recipient and one for the
    // sender's own share, nothing else.
    assert_eq!(world.rng_draws, [32, 12, 32, 32, 32]);
    assert_eq!(world.rng_left, 0);
    // enc is the public key of DeriveKeyPair(ikmE) (RFC 9180 §7.1.3).
    type Kem = hpke::kem::X25519HkdfSha256;
    for (ikm, share) in [
        (world.ikm_e_swe, &world.envelope.key_shares[0]),
        (world.ikm_e_nga, &world.envelope.key_shares[1]),
        (world.ikm_e_mex, &world.envelope.key_shares[2]),
    ] {
        let (_, pk) = <Kem as hpke::Kem>::derive_keypair(&ikm);
        assert_eq!(pk.to_bytes().as_slice(), share.enc);
    }
}

fn spec_bytes(name: &str) -> Vec<u8> {
    let spec = spec_vectors().expect("the SPEC's vector blocks parse");
    let value = spec.get(name).unwrap_or_else(|| panic!("vector {name} is missing from SPEC.md"));
    hex::decode(value).unwrap_or_else(|e| panic!("vector {name} is not hex: {e}"))
}

#[test]
fn the_spec_envelope_verifies_and_opens_for_each_recipient_only() {
    let world = World::build();
    let bytes = spec_bytes("envelope.bytes");
    let env: Envelope = codec::decode::<_, MAX_FRAME>("envelope", &bytes).expect("decode");
    assert_eq!(env, world.envelope);
    assert_eq!(codec::encode("envelope", &env).expect("encode"), bytes);
    // The signature covers everything before it.
    assert_eq!(env.signed_bytes().expect("signed bytes"), bytes[..bytes.len() - 64]);

    env.verify(&world.mex.public()).expect("signature verifies");
    assert_eq!(env.verify(&world.swe.public()), Err(EnvelopeError::BadSignature));
    env.check_window(CREATED_AT + 300, 60, 300).expect("inside the window");
    assert!(env.check_window(CREATED_AT + 301, 60, 300).is_err(), "older than the past bound");
    env.check_window(CREATED_AT - 60, 60, 300).expect("ahead by the skew allowed");
    assert!(env.check_window(CREATED_AT - 61, 60, 300).is_err(), "further ahead than the skew");

    for (code, key) in [("SWE", &world.swe_enc), ("NGA", &world.nga_enc)] {
        let body = env.open(state(code), key).expect("recipient opens");
        assert_eq!(body, world.body, "{code}");
        let Body::Note(note) = body else { panic!("{code}: not a note") };
        assert_eq!(note.text, NOTE_TEXT);
    }

    // A third key cannot open it, whichever share it tries.
    assert!(matches!(env.open(state("FRA"), &world.outsider_enc), Err(EnvelopeError::NotARecipient { .. })));
    for code in ["SWE", "NGA"] {
        assert_eq!(env.open(state(code), &world.outsider_enc), Err(EnvelopeError::KeyUnwrap(state(code))));
    }
    // Nor can one recipient's key open the other's share.
    assert_eq!(env.open(state("SWE"), &world.nga_enc), Err(EnvelopeError::KeyUnwrap(state("SWE"))));

    // Any change to a signed byte breaks the signature.
    let mut tampered = env.clone();
    tampered.ciphertext[0] ^= 1;
    assert_eq!(tampered.verify(&world.mex.public()), Err(EnvelopeError::BadSignature));
    // A changed header also stops the body from decrypting.
    let mut tampered = env.clone();
    tampered.header.created_at += 1;
    assert!(env.open(state("SWE"), &world.swe_enc).is_ok());
    assert!(tampered.open(state("SWE"), &world.swe_enc).is_err());
}

/// The header commits to the content key (section 6.2): a sender that wraps
/// another key for one recipient, and signs what it made, is caught by that
/// recipient, whatever the other key would open the ciphertext to; the
/// others are not affected.
#[test]
fn a_recipient_refuses_a_content_key_other_than_the_one_committed() {
    use hpke::{Deserializable, OpModeS};
    type Kem = hpke::kem::X25519HkdfSha256;
    let world = World::build();
    let mut env = world.envelope.clone();
    assert_eq!(env.header.content_commitment, Some(content_commitment(&world.content_key)));
    let header_bytes = enc("header", &env.header);
    let other_key = fixed::<32>("another content key");
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(&world.nga_enc.public()).expect("NGA's key");
    let (enc_key, wrapped) =
        hpke::single_shot_seal_with_rng::<hpke::aead::ChaCha20Poly1305, hpke::kdf::HkdfSha256, Kem>(
            &OpModeS::Base,
            &pk,
            &veim_protocol::keys::domain_separated(domain::CONTENT_KEY, b"NGA"),
            &other_key,
            &header_bytes,
            &mut ScriptedRng::new(&[&fixed::<32>("another ikmE")]),
        )
        .expect("seal");
    env.key_shares[1].enc = enc_key.to_bytes().as_slice().try_into().expect("32 bytes");
    env.key_shares[1].wrapped_key = wrapped.as_slice().try_into().expect("48 bytes");
    env.signature = world.mex.sign(domain::ENVELOPE_SIGNATURE, &env.signed_bytes().expect("signed bytes"));
    env.verify(&world.mex.public()).expect("the sender signed it");
    assert_eq!(env.open(state("NGA"), &world.nga_enc), Err(EnvelopeError::KeyCommitment(state("NGA"))));
    assert_eq!(env.open(state("SWE"), &world.swe_enc), Ok(world.body.clone()));
    // The commitment is signed: changing it breaks the signature.
    let mut changed = world.envelope.clone();
    changed.header.content_commitment = Some(content_commitment(&other_key));
    assert_eq!(changed.verify(&world.mex.public()), Err(EnvelopeError::BadSignature));
}

/// Message ids name their sender (section 2.2): an envelope whose id
/// begins with another State's code is refused before anything else is
/// looked at, and the crate will not seal one.
#[test]
fn a_message_id_must_begin_with_its_senders_code() {
    let world = World::build();
    let mut env = world.envelope.clone();
    assert!(env.header.message_id.is_issued_by(state("MEX")));
    let foreign = MessageId(issued("SWE", "message id"));
    env.header.message_id = foreign;
    env.signature = world.mex.sign(domain::ENVELOPE_SIGNATURE, &env.signed_bytes().expect("signed bytes"));
    assert_eq!(
        env.verify(&world.mex.public()),
        Err(EnvelopeError::ForeignMessageId { id: foreign, sender: state("MEX") })
    );
    let recipients = [Recipient { state: state("SWE"), encryption_key: world.swe_enc.public() }];
    let draft = Draft {
        message_id: foreign,
        exchange_id: ExchangeId(world.exchange_id),
        sender: state("MEX"),
        recipients: &recipients,
        sender_encryption_key: world.mex_enc.public(),
        created_at: CREATED_AT,
        body: &world.body,
    };
    assert!(matches!(
        Envelope::seal(&draft, &world.mex, &mut ScriptedRng::new(&[])),
        Err(EnvelopeError::ForeignMessageId { .. })
    ));
}

/// A version 1 header (no commitment) is still read back from a store, and
/// written again byte for byte; version 2 carries the commitment last. Both
/// in JSON too.
#[test]
fn headers_of_both_versions_encode_as_section_3_1_says() {
    let world = World::build();
    let v2 = world.envelope.header.clone();
    let v2_bytes = enc("header", &v2);
    let v1 = Header { version: 1, content_commitment: None, ..v2.clone() };
    let v1_bytes = enc("header", &v1);
    assert_eq!(v2_bytes.len(), v1_bytes.len() + 32);
    assert_eq!(v2_bytes[2..v1_bytes.len()], v1_bytes[2..], "the same fields, in the same order");
    assert_eq!(v2_bytes[v1_bytes.len()..], content_commitment(&world.content_key).0);
    assert_eq!(codec::decode::<Header, MAX_FRAME>("header", &v1_bytes).expect("v1"), v1);
    assert_eq!(codec::decode::<Header, MAX_FRAME>("header", &v2_bytes).expect("v2"), v2);
    for h in [&v1, &v2] {
        let json = serde_json::to_string(h).expect("json");
        assert_eq!(&serde_json::from_str::<Header>(&json).expect("from json"), h, "{json}");
    }
    let without: serde_json::Value = serde_json::to_value(&v1).expect("json");
    assert!(without.get("content_commitment").is_none());
    let mut missing = serde_json::to_value(&v2).expect("json");
    missing.as_object_mut().expect("object").remove("content_commitment");
    assert!(serde_json::from_value::<Header>(missing).is_err(), "a version 2 header without its commitment");
}

#[test]
fn the_spec_receipt_registration_and_directory_verify() {
    let world = World::build();

    let receipt: SignedReceipt =
        codec::decode::<_, MAX_FRAME>("receipt", &spec_bytes("receipt.bytes")).expect("decode");
    receipt.verify(&world.swe.public()).expect("receipt verifies");
    assert!(receipt.verify(&world.mex.public()).is_err());
    assert_eq!(receipt.receipt.envelope_hash.as_slice(), spec_bytes("envelope.hash"));

    let registration: SignedRegistration =
        codec::decode::<_, MAX_FRAME>("registration", &spec_bytes("registration.bytes")).expect("decode");
    registration.verify().expect("registration is self-signed");
    assert_eq!(registration, world.registration);

    let directory: SignedDirectoryVersion =
        codec::decode::<_, { codec::MAX_DIRECTORY }>("directory", &spec_bytes("directory.bytes")).expect("decode");
    assert_eq!(directory, world.directory);
    let secretariat = world.secretariat.public();
    directory.verify(&secretariat).expect("directory verifies");
    assert_eq!(directory.check_successor(None, &secretariat, |_| None), Ok(Succession::Next));
    assert_eq!(directory.hash().expect("hash").as_slice(), spec_bytes("directory.hash"));
    assert!(directory.verify(&world.mex.public()).is_err());
    let entry = directory.body.active(state("MEX")).expect("MEX is active");
    assert_eq!(entry.identity_key(), world.mex.public());
    assert_eq!(entry.encryption_key(), world.mex_enc.public());

    for name in ["frame.fetch-directory", "frame.refused", "frame.directory-updated", "frame.acknowledged"] {
        let bytes = spec_bytes(name);
        let len = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
        assert_eq!(len, bytes.len() - 4, "{name}");
    }
    let request: NetRequest =
        codec::decode::<_, MAX_FRAME>("request", &spec_bytes("frame.fetch-directory")[4..]).expect("decode");
    assert_eq!(request, NetRequest::FetchDirectory { after: 0 });
    let request: NetRequest =
        codec::decode::<_, MAX_FRAME>("request", &spec_bytes("frame.directory-updated")[4..]).expect("decode");
    assert_eq!(request, NetRequest::DirectoryUpdated { version: 2 });
    assert_eq!(spec_bytes("frame.directory-updated")[4..8], 5u32.to_le_bytes());
    let response: NetResponse =
        codec::decode::<_, MAX_FRAME>("response", &spec_bytes("frame.acknowledged")[4..]).expect("decode");
    assert_eq!(response, NetResponse::Acknowledged);
}

#[test]
fn the_spec_keys_and_signature_that_strict_verification_refuses_are_refused() {
    use ed25519_dalek::Verifier;
    let world = World::build();
    let signature: [u8; 64] = spec_bytes("strict.signature").try_into().expect("64 bytes");
    let receipt_payload = enc("receipt", &world.receipt.receipt);
    // R = B and S = 1: [S]B − [k]A = B = R whatever k, when A is the
    // identity, so a verifier without the checks of section 5 accepts the
    // signature under either encoding of the identity, on any message.
    for name in ["strict.identity-key", "strict.identity-key-non-canonical"] {
        let bytes: [u8; 32] = spec_bytes(name).try_into().expect("32 bytes");
        let lax = ed25519_dalek::VerifyingKey::from_bytes(&bytes).expect("decodes");
        for payload in [b"".as_slice(), &receipt_payload] {
            let message = veim_protocol::keys::domain_separated(domain::RECEIPT, payload);
            assert!(lax.verify(&message, &ed25519_dalek::Signature::from_bytes(&signature)).is_ok(), "{name}");
            let refused = veim_protocol::PublicIdentity(bytes).verify(domain::RECEIPT, payload, &signature);
            assert!(matches!(refused, Err(veim_protocol::keys::KeyError::BadIdentityKey(_))), "{name}");
        }
        assert!(veim_protocol::PublicIdentity::from_hex(&h(bytes)).is_err(), "{name}");
        let forged =
            SignedReceipt { signature, receipt: Receipt { recipient: state("NGA"), ..world.receipt.receipt.clone() } };
        assert!(forged.verify(&veim_protocol::PublicIdentity(bytes)).is_err(), "{name}");
    }
    // The same point of large order, in its two encodings: only the
    // canonical one is a key.
    let large = spec_bytes("strict.large-key");
    let large_plus_p = spec_bytes("strict.large-key-non-canonical");
    assert!(veim_protocol::PublicIdentity::from_hex(&h(&large)).is_ok());
    assert!(veim_protocol::PublicIdentity::from_hex(&h(&large_plus_p)).is_err());
    let decoded =
        |b: &[u8]| ed25519_dalek::VerifyingKey::from_bytes(&b.try_into().expect("32 bytes")).expect("decodes");
    assert!(!decoded(&large_plus_p).is_weak(), "not of small order: refused for its encoding alone");
    assert_eq!(decoded(&large).to_montgomery(), decoded(&large_plus_p).to_montgomery(), "the same y");

    // Sweden's receipt with S + ℓ: the same R, an S that is not below ℓ.
    let malleated: SignedReceipt =
        codec::decode::<_, MAX_FRAME>("receipt", &spec_bytes("strict.receipt-s-plus-l")).expect("decode");
    let receipt: SignedReceipt =
        codec::decode::<_, MAX_FRAME>("receipt", &spec_bytes("receipt.bytes")).expect("decode");
    assert_eq!(malleated.receipt, receipt.receipt);
    assert_eq!(malleated.signature[..32], receipt.signature[..32]);
    assert_ne!(malleated.signature[32..], receipt.signature[32..]);
    assert!(receipt.verify(&world.swe.public()).is_ok());
    assert!(malleated.verify(&world.swe.public()).is_err());
}

#[test]
fn the_spec_reconcile_frame_lists_the_exchange() {
    let world = World::build();
    let bytes = spec_bytes("frame.reconcile");
    // Length 76, variant 7, one exchange: its id, two ids, the two ids; no
    // envelope given back.
    let payload = [
        7u32.to_le_bytes().as_slice(),
        &1u64.to_le_bytes(),
        &world.exchange_id,
        &2u64.to_le_bytes(),
        &world.message_id,
        &world.response_message_id,
        &0u64.to_le_bytes(),
    ]
    .concat();
    assert_eq!(payload.len(), 76);
    assert_eq!(bytes, frame(&payload));
    let request: NetRequest = codec::decode::<_, MAX_FRAME>("request", &bytes[4..]).expect("decode");
    assert_eq!(request, NetRequest::Reconcile(Box::new(world.inventory())));
    assert_eq!(spec_bytes("input.exchange-id"), world.exchange_id);
    assert_eq!(spec_bytes("input.message-id"), world.message_id);
    assert_eq!(spec_bytes("input.response-message-id"), world.response_message_id);

    // The answer the SPEC gives in words: Reconciled { missing: [] }.
    let answer = frame(&enc("response", &NetResponse::Reconciled { missing: Vec::new() }));
    assert_eq!(answer, [[0, 0, 0, 12].as_slice(), &7u32.to_le_bytes(), &[0; 8]].concat());
    let missing = enc("response", &NetResponse::Reconciled { missing: vec![MessageId(world.message_id)] });
    assert_eq!(missing, [7u32.to_le_bytes().as_slice(), &1u64.to_le_bytes(), &world.message_id].concat());

    // The limit the SPEC gives, its digits grouped by three as the SPEC writes them.
    let limit = format!("`MAX_INVENTORY` = {} {:03}", MAX_INVENTORY / 1000, MAX_INVENTORY % 1000);
    let spec = SPEC.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(spec.contains(&limit), "SPEC.md does not give the crate's limit: {limit}");
}

/// MEX's entry of directory version 1, carrying `contacts`.
fn entry_with(world: &World, contacts: Option<SignedContactSet>) -> DirectoryEntry {
    DirectoryEntry { contacts, ..world.directory.body.entries[0].clone() }
}

/// Directory version 2 after the SPEC's version 1, with these entries.
fn version_2(world: &World, entries: Vec<DirectoryEntry>) -> SignedDirectoryVersion {
    let body = DirectoryVersion {
        version: 2,
        previous_hash: world.directory.hash().expect("hash"),
        issued_at: CONTACTS_SUBMITTED_AT,
        change: "accepted 1 point(s) of contact of MEX".into(),
        entries,
        handover: None,
    };
    SignedDirectoryVersion::sign(body, &world.secretariat).expect("sign directory")
}

#[test]
fn the_spec_contacts_verify_and_travel_in_the_directory() {
    let world = World::build();
    // The encoding is the set, then the signature over it.
    let (signed, bytes, _) = signed_vector("contacts", "set", "contacts", &world.contacts);
    signed.verify(&world.mex.public()).expect("signed by MEX");
    assert!(signed.verify(&world.swe.public()).is_err());
    assert!(
        world.mex.public().verify(domain::CONTACTS_SIGNATURE, &spec_bytes("contacts.set"), &signed.signature).is_ok()
    );
    // The hash covers the signature too.
    let hash = spec_bytes("contacts.hash");
    assert_eq!(hash, veim_protocol::keys::hash(domain::CONTACTS_HASH, &bytes));
    assert_eq!(signed.hash().expect("hash").as_slice(), hash);
    signed.set.validate().expect("the SPEC's set is valid");

    // The public section leaves out the telephone, and a restricted contact.
    let contact = &signed.set.contacts[0];
    let public = contact.public_view().expect("a public contact");
    assert!(public.phones.is_empty() && public.restricted_fields.is_empty());
    assert_eq!(
        PointOfContact { phones: contact.phones.clone(), restricted_fields: vec![ContactField::Phones], ..public },
        *contact
    );
    assert_eq!(PointOfContact { visibility: Visibility::Restricted, ..contact.clone() }.public_view(), None);

    // Version 1's entry has no contacts: restricted. Version 2 carries them.
    assert_eq!(world.directory.body.entries[0].visibility(), Visibility::Restricted);
    let secretariat = world.secretariat.public();
    let v2 = version_2(&world, vec![entry_with(&world, Some(signed.clone()))]);
    let head = world.directory.head().expect("head");
    assert_eq!(v2.check_successor(Some(&head), &secretariat, |_| None), Ok(Succession::Next));
    assert_eq!(v2.check_entries_kept(&world.directory.body), Ok(()));
    assert_eq!(v2.body.entries[0].visibility(), Visibility::Public);

    // Contacts another key signed, or naming another State, are refused.
    let bad_contacts = DirectoryError::BadContacts { version: 2, state: state("MEX") };
    let by_swe = SignedContactSet::sign(contact_set(), &world.swe).expect("sign");
    assert_eq!(
        version_2(&world, vec![entry_with(&world, Some(by_swe))]).verify(&secretariat),
        Err(bad_contacts.clone())
    );
    let naming_swe =
        SignedContactSet::sign(ContactSet { state: state("SWE"), ..contact_set() }, &world.mex).expect("sign");
    assert_eq!(
        version_2(&world, vec![entry_with(&world, Some(naming_swe))]).verify(&secretariat),
        Err(bad_contacts.clone())
    );
    let mut altered = signed.clone();
    altered.set.contacts[0].restricted_fields.clear();
    assert_eq!(version_2(&world, vec![entry_with(&world, Some(altered))]).verify(&secretariat), Err(bad_contacts));

    // A State leaves only as a withdrawn entry, never by being dropped.
    let dropped = version_2(&world, vec![]);
    dropped.verify(&secretariat).expect("an empty version is valid on its own");
    assert_eq!(
        dropped.check_entries_kept(&world.directory.body),
        Err(DirectoryError::EntryDropped { version: 2, state: state("MEX") })
    );
    let withdrawn = DirectoryEntry { status: EntryStatus::Withdrawn, ..entry_with(&world, None) };
    assert_eq!(version_2(&world, vec![withdrawn]).check_entries_kept(&world.directory.body), Ok(()));
}

#[test]
fn the_spec_key_rotation_verifies_and_moves_the_entry() {
    let world = World::build();
    // The encoding is the rotation (the old key, then the new registration),
    // then the old key's signature over it.
    let (signed, bytes, body) = signed_vector("rotation", "body", "key rotation", &world.rotation);
    assert_eq!(body[..32], world.mex.public().0);
    assert_eq!(body[32..], enc("registration", &world.rotation.rotation.registration));
    assert_eq!((body.len(), bytes.len()), (254, 318));
    // A RotateKeys request is variant 4, then these bytes.
    let request = enc("request", &NetRequest::RotateKeys(Box::new(signed.clone())));
    assert_eq!(request, [4u32.to_le_bytes().as_slice(), &bytes].concat());
    assert!(world.mex.public().verify(domain::KEY_ROTATION, &body, &signed.signature).is_ok());
    signed.verify().expect("signed by the old key, self-signed by the new");
    let new = &signed.rotation.registration;
    new.verify().expect("the new registration is self-signed");
    assert_eq!(new.registration.identity_key, world.mex_new.public());
    assert_eq!(new.registration.encryption_key, world.mex_new_enc.public());
    new.registration.validate(ROTATION_SIGNED_AT, 300).expect("valid when signed");

    // Signed by another key than the one it replaces: refused.
    let rotation = signed.rotation.clone();
    assert!(SignedKeyRotation::sign(rotation.clone(), &world.swe).expect("sign").verify().is_err());
    assert!(SignedKeyRotation::sign(rotation.clone(), &world.mex_new).expect("sign").verify().is_err());
    // A rotation to the same key is no rotation.
    let same = KeyRotation { previous_key: world.mex.public(), registration: world.registration.clone() };
    assert!(SignedKeyRotation::sign(same, &world.mex).expect("sign").verify().is_err());
    // A new registration not signed by the new key: refused.
    let mut unsigned = rotation.clone();
    unsigned.registration.signature = world.registration.signature;
    assert!(SignedKeyRotation::sign(unsigned, &world.mex).expect("sign").verify().is_err());

    // Version 2 moves MEX to the new keys, carrying the rotation.
    let secretariat = world.secretariat.public();
    let v1 = &world.directory.body;
    let moved = |rotated_from: Option<SignedKeyRotation>| DirectoryEntry {
        registration: new.clone(),
        contacts: None,
        rotated_from,
        ..v1.entries[0].clone()
    };
    let v2 = version_2(&world, vec![moved(Some(signed.clone()))]);
    let head = world.directory.head().expect("head");
    assert_eq!(v2.check_successor(Some(&head), &secretariat, |_| None), Ok(Succession::Next));
    assert_eq!(v2.check_entries_kept(v1), Ok(()));
    let entry = v2.body.active(state("MEX")).expect("MEX is still active");
    assert_eq!(entry.identity_key(), world.mex_new.public());
    assert_eq!(entry.encryption_key(), world.mex_new_enc.public());

    // The same change without the rotation is refused.
    let without = version_2(&world, vec![moved(None)]);
    without.verify(&secretariat).expect("valid on its own");
    let key_changed = DirectoryError::KeyChangedWithoutRotation { version: 2, state: state("MEX") };
    assert_eq!(without.check_entries_kept(v1), Err(key_changed.clone()));
    // So is a rotation from another key than the one version 1 lists, even
    // one that verifies.
    let from_swe = KeyRotation { previous_key: world.swe.public(), ..rotation.clone() };
    let from_swe = SignedKeyRotation::sign(from_swe, &world.swe).expect("sign");
    from_swe.verify().expect("verifies on its own");
    let v2 = version_2(&world, vec![moved(Some(from_swe))]);
    v2.verify(&secretariat).expect("valid on its own");
    assert_eq!(v2.check_entries_kept(v1), Err(key_changed));
    // After a withdrawal, a new admission may bring a new key without a rotation.
    let withdrawn = DirectoryVersion {
        entries: vec![DirectoryEntry { status: EntryStatus::Withdrawn, ..v1.entries[0].clone() }],
        ..v1.clone()
    };
    assert_eq!(without.check_entries_kept(&withdrawn), Ok(()));

    // A rotation that does not verify, or names another registration than
    // the entry's, makes the version invalid.
    let bad_rotation = Err(DirectoryError::BadRotation { version: 2, state: state("MEX") });
    let forged = SignedKeyRotation::sign(rotation.clone(), &world.swe).expect("sign");
    assert_eq!(version_2(&world, vec![moved(Some(forged))]).verify(&secretariat), bad_rotation);
    let later = SignedRegistration::sign(
        Registration { signed_at: ROTATION_SIGNED_AT + 1, ..new.registration.clone() },
        &world.mex_new,
    )
    .expect("sign");
    let other = DirectoryEntry { registration: later, ..moved(Some(signed.clone())) };
    assert_eq!(version_2(&world, vec![other]).verify(&secretariat), bad_rotation);
    // Carried on an entry that does not use the new key: also refused.
    let stale = DirectoryEntry { rotated_from: Some(signed), ..v1.entries[0].clone() };
    assert_eq!(version_2(&world, vec![stale]).verify(&secretariat), bad_rotation);
}

#[test]
fn the_spec_handover_verifies_and_moves_the_trust_anchor() {
    let world = World::build();
    let old = world.secretariat.public();
    let new = world.secretariat_new.public();
    let bytes = spec_bytes("handover.directory-bytes");
    let v2: SignedDirectoryVersion = codec::decode::<_, { codec::MAX_DIRECTORY }>("directory", &bytes).expect("decode");
    assert_eq!(v2, world.handover);
    assert_eq!(enc("directory", &v2), bytes);
    assert_eq!(v2.hash().expect("hash").as_slice(), spec_bytes("handover.directory-hash"));
    // The version ends with its handover (Some, next key, its signature),
    // then the Secretariat's signature.
    let handover = spec_bytes("handover.bytes");
    assert_eq!(handover.len(), 96);
    assert_eq!(handover[..32], new.0);
    assert_eq!(handover[32..], spec_bytes("handover.signature"));
    assert_eq!(bytes.len(), 495);
    assert_eq!(bytes[bytes.len() - 64 - 97..bytes.len() - 64], [&[1u8][..], &handover].concat());
    // The next key signs the previous key, then itself.
    let record = world.handover_record();
    let payload = [old.0, new.0].concat();
    assert!(new.verify(domain::SECRETARIAT_HANDOVER, &payload, &record.next_key_signature).is_ok());
    assert_eq!(record.verify(&old), Ok(()));
    assert!(record.verify(&world.mex.public()).is_err());

    // Signed by the old key, version 2 follows version 1 and hands over.
    let head = world.directory.head().expect("head");
    assert_eq!(v2.check_successor(Some(&head), &old, |_| None), Ok(Succession::Next));
    assert_eq!(v2.check_entries_kept(&world.directory.body), Ok(()));
    assert!(matches!(v2.verify(&new), Err(DirectoryError::WrongSigner { version: 2, .. })));

    // A handover the next key did not sign makes the version invalid.
    let bad_handover = Err(DirectoryError::BadHandover { version: 2 });
    let forged = |handover: SecretariatHandover| {
        let body = DirectoryVersion { handover: Some(handover), ..v2.body.clone() };
        SignedDirectoryVersion::sign(body, &world.secretariat).expect("sign").verify(&old)
    };
    let mut signature = record.next_key_signature;
    signature[0] ^= 1;
    assert_eq!(forged(SecretariatHandover { next_key_signature: signature, ..record.clone() }), bad_handover);
    assert_eq!(forged(SecretariatHandover { next_key: world.mex.public(), ..record.clone() }), bad_handover);
    assert_eq!(forged(SecretariatHandover::new(&world.mex.public(), &world.secretariat_new)), bad_handover);
    // A handover to the same key is no handover.
    assert_eq!(forged(SecretariatHandover::new(&old, &world.secretariat)), bad_handover);

    // Version 3 is signed by the new key and follows under it; signed by the
    // old key it is refused.
    let v3 = |key: &IdentityKeypair| {
        let body = DirectoryVersion {
            version: 3,
            previous_hash: v2.hash().expect("hash"),
            change: "Suspend MEX".into(),
            entries: vec![DirectoryEntry { status: EntryStatus::Suspended, ..v2.body.entries[0].clone() }],
            handover: None,
            ..v2.body.clone()
        };
        SignedDirectoryVersion::sign(body, key).expect("sign")
    };
    let head = v2.head().expect("head");
    assert_eq!(v3(&world.secretariat_new).check_successor(Some(&head), &new, |_| None), Ok(Succession::Next));
    assert_eq!(
        v3(&world.secretariat).check_successor(Some(&head), &new, |_| None),
        Err(DirectoryError::WrongSigner { version: 3, expected: new.fingerprint() })
    );
}

#[test]
fn the_spec_contact_rules_hold() {
    let valid = |change: &dyn Fn(&mut ContactSet)| {
        let mut set = contact_set();
        change(&mut set);
        set.validate().is_ok()
    };
    let contact = |change: &dyn Fn(&mut PointOfContact)| valid(&|s: &mut ContactSet| change(&mut s.contacts[0]));
    assert!(valid(&|_| {}));
    // The set: 1 to 20 contacts, one of them the national point of contact.
    assert!(!valid(&|s| s.contacts.clear()));
    assert!(!valid(&|s| s.contacts[0].role = ContactRole::Alternate));
    assert!(valid(&|s| s.contacts = vec![s.contacts[0].clone(); 20]));
    assert!(!valid(&|s| s.contacts = vec![s.contacts[0].clone(); 21]));
    // Texts: name and ministry required, at most 500 bytes, no control characters.
    assert!(!contact(&|c| c.name = " \t".into()));
    assert!(!contact(&|c| c.ministry = String::new()));
    assert!(contact(&|c| c.job_title = String::new()));
    assert!(contact(&|c| c.office_address = "é".repeat(250)));
    assert!(!contact(&|c| c.office_address = "é".repeat(250) + "x"));
    assert!(!contact(&|c| c.job_title = "Director\u{1b}[2J".into()));
    assert!(!contact(&|c| c.role = ContactRole::FocalPoint(" ".into())));
    assert!(valid(&|s| s
        .contacts
        .push(PointOfContact { role: ContactRole::FocalPoint("end-use checks".into()), ..s.contacts[0].clone() })));
    // E-mail addresses: at least one, at most 10.
    assert!(!contact(&|c| c.emails.clear()));
    assert!(contact(&|c| c.emails = vec!["a@b.c".into(); 10]));
    assert!(!contact(&|c| c.emails = vec!["a@b.c".into(); 11]));
    for (email, ok) in [
        ("a@b.c", true),
        ("a@b@c.d", true),
        ("a@b", false),
        ("@b.c", false),
        ("a@.b", false),
        ("a@b.", false),
        ("a b@c.d", false),
        ("<a@b.c>", false),
        ("a@b.c\u{85}", false),
    ] {
        assert_eq!(contact(&|c| c.emails = vec![email.into()]), ok, "{email:?}");
    }
    // Telephones: at most 10; 6 to 20 digits among + - ( ) . and spaces.
    assert!(contact(&|c| c.phones.clear()));
    assert!(!contact(&|c| c.phones = vec!["123456".into(); 11]));
    for (phone, ok) in [
        ("123456", true),
        ("12345", false),
        ("+1 (234) 567-89.01", true),
        ("12345678901234567890", true),
        ("123456789012345678901", false),
        ("123456 ext 7", false),
        ("１２３４５６", false),
    ] {
        assert_eq!(contact(&|c| c.phones = vec![phone.into()]), ok, "{phone:?}");
    }
    // Languages: at most 10, each two lower-case ASCII letters.
    assert!(contact(&|c| c.languages.clear()));
    assert!(!contact(&|c| c.languages = vec!["en".into(); 11]));
    for (language, ok) in [("en", true), ("EN", false), ("eng", false), ("e", false), ("é", false)] {
        assert_eq!(contact(&|c| c.languages = vec![language.into()]), ok, "{language:?}");
    }
}

#[test]
fn the_spec_exchange_id_derives_from_the_request() {
    let world = World::build();
    let input = spec_bytes("exchange-id.hash-input");
    // The domain, 0x00, the originator's code, the request's message id.
    assert_eq!(input.len(), domain::EXCHANGE_ID.len() + 1 + 3 + 16);
    assert_eq!(input, [domain::EXCHANGE_ID.as_bytes(), &[0], b"MEX", &world.message_id].concat());
    let id = spec_bytes("exchange-id.for-request");
    assert_eq!(id, Sha256::digest(&input)[..16]);
    assert_eq!(ExchangeId::for_request(state("MEX"), MessageId(world.message_id)).0.as_slice(), id);
    // Bound to the originator: another State's request with the same message
    // id opens another exchange.
    assert_ne!(ExchangeId::for_request(state("SWE"), MessageId(world.message_id)).0.as_slice(), id);
}

#[test]
fn decoding_is_strict() {
    let world = World::build();
    let bytes = spec_bytes("envelope.bytes");
    // Trailing bytes are an error.
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(codec::decode::<Envelope, MAX_FRAME>("envelope", &longer).is_err());
    // So is a truncated value.
    assert!(codec::decode::<Envelope, MAX_FRAME>("envelope", &bytes[..bytes.len() - 1]).is_err());
    // A State code must be upper case on the wire. The header starts with the
    // version (2 bytes) and the two ids (16 bytes each): the sender follows.
    let mut lower = bytes.clone();
    assert_eq!(&lower[34..37], b"MEX");
    lower[34..37].copy_from_slice(b"mex");
    assert!(codec::decode::<Envelope, MAX_FRAME>("envelope", &lower).is_err());
    // An unknown enum variant is refused: the body is a Body::Note (index 2),
    // and 8 is the first index after the last variant.
    let mut body = codec::encode("body", &world.body).expect("encode");
    body[0] = 8;
    assert!(codec::decode::<Body, { codec::MAX_BODY }>("body", &body).is_err());
    // A bool is the byte 0 or 1: the note's body ends with its handling
    // restrictions (three bools, no condition, no expiry).
    let body = spec_bytes("envelope.body");
    assert_eq!(body[body.len() - 12..], [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    for (value, ok) in [(0u8, true), (1, true), (2, false), (0xff, false)] {
        let mut changed = body.clone();
        let at = changed.len() - 12;
        changed[at] = value;
        let decoded = codec::decode::<Body, { codec::MAX_BODY }>("body", &changed);
        assert_eq!(decoded.is_ok(), ok, "diversion_only byte {value}");
    }
    // Input over the limit is refused before it is looked at.
    assert!(codec::decode::<Envelope, 64>("envelope", &bytes).is_err());
}

/// The header of the envelope SWE's response travels in (section 12.11).
fn response_header(world: &World) -> Header {
    Header {
        version: 2,
        message_id: MessageId(world.response_message_id),
        exchange_id: ExchangeId(world.exchange_id),
        sender: state("SWE"),
        sender_key: world.swe.public(),
        recipients: vec![state("MEX")],
        created_at: RESPONSE_CREATED_AT,
        kind: MessageKind::Response,
        content_commitment: Some(Bytes32(fixed("response content commitment"))),
    }
}

#[test]
fn the_spec_item_statement_binds_the_response_items() {
    let world = World::build();
    let item = spec_bytes("item.bytes");
    assert_eq!(item, enc("item", &response_item()));
    // The commitment: the domain, 0x00, the salt, then the item's encoding.
    let salt = spec_bytes("random.item-salt");
    let expected = Sha256::digest([domain::ITEM_COMMITMENT.as_bytes(), &[0], &salt, &item].concat());
    assert_eq!(spec_bytes("item.commitment"), expected.as_slice());
    assert_eq!(veim_protocol::keys::hash(domain::ITEM_COMMITMENT, &[salt.as_slice(), &item].concat()), *expected);

    let (signed, _, body) = signed_vector("statement", "body", "item statement", &world.statement);
    // The statement is the header's fields, the handling, the commitments.
    let header = response_header(&world);
    assert_eq!(signed.statement.context, header.context());
    assert_eq!(signed.statement.handling, response_handling());
    assert_eq!(signed.statement.commitments, [Bytes32(expected.into())]);
    assert_eq!(body[..16], world.response_message_id);
    assert_eq!(body[16..32], world.exchange_id);
    assert_eq!(body[body.len() - 40..body.len() - 32], 1u64.to_le_bytes());
    assert_eq!(body[body.len() - 32..], spec_bytes("item.commitment"));
    signed.verify(&world.swe.public()).expect("signed by SWE");
    assert!(signed.verify(&world.mex.public()).is_err());
    assert!(world.swe.public().verify(domain::ITEM_STATEMENT, &body, &signed.signature).is_ok());
    // Not a signature for another purpose, nor the other way round.
    assert!(world.swe.public().verify(domain::ENVELOPE_SIGNATURE, &body, &signed.signature).is_err());

    // The response carries the salt and the statement's signature.
    let response = spec_bytes("response.body");
    let decoded: Body = codec::decode::<_, { codec::MAX_BODY }>("body", &response).expect("decode");
    let Body::Response(r) = &decoded else { panic!("not a response") };
    assert_eq!(*r, world.response);
    assert_eq!(response[..4], 1u32.to_le_bytes());
    assert_eq!(r.salts, [Bytes32(world.item_salt)]);
    assert_eq!(r.attestation.as_slice(), spec_bytes("statement.signature"));
    assert_eq!(response[response.len() - 64 - 32 - 8..response.len() - 64], [&1u64.to_le_bytes()[..], &salt].concat());
    assert_eq!(response[response.len() - 64..], spec_bytes("statement.signature"));
    decoded.validate().expect("the SPEC's response is valid");

    // On receipt (section 9.4): in the envelope it was made for, from SWE, it checks.
    assert_eq!(decoded.check_signed_parts(&header), Ok(()));
    // Any other header field, item, salt or restriction: refused.
    let refused = |header: &Header, body: &Body| body.check_signed_parts(header).is_err();
    assert!(refused(&Header { created_at: RESPONSE_CREATED_AT + 1, ..header.clone() }, &decoded));
    assert!(refused(&Header { recipients: vec![state("MEX"), state("NGA")], ..header.clone() }, &decoded));
    assert!(refused(&Header { message_id: MessageId(world.message_id), ..header.clone() }, &decoded));
    assert!(refused(&Header { sender_key: world.mex.public(), ..header.clone() }, &decoded));
    let changed = |f: &dyn Fn(&mut Response)| {
        let mut r = world.response.clone();
        f(&mut r);
        Body::Response(r)
    };
    assert!(refused(&header, &changed(&|r| r.items[0] = InformationItem::CustomaryProcedure { details: "x".into() })));
    assert!(refused(&header, &changed(&|r| r.salts[0].0[0] ^= 1)));
    assert!(refused(&header, &changed(&|r| r.salts.clear())));
    assert!(refused(&header, &changed(&|r| r.handling.no_court_without_consent = false)));
    // The summary is not committed to.
    assert!(!refused(&header, &changed(&|r| r.summary = "s".into())));
}

#[test]
fn the_spec_handling_restrictions_follow_the_rules() {
    let h = response_handling();
    // The last day of use is 2027-12-31, UTC, inclusive.
    assert_eq!(h.use_ends_at(), Some(1_830_297_600), "2028-01-01T00:00:00Z");
    assert!(!h.use_expired(1_830_297_599));
    assert!(h.use_expired(1_830_297_600));
    // Consent: SWE waived it for onward transmission, not for MEX's courts.
    assert!(h.needs_consent(&court(), state("MEX")));
    assert!(!h.needs_consent(&Authority { kind: AuthorityKind::StateParty, ..court() }, state("MEX")));
    assert!(h.needs_consent(&court(), state("NGA")), "for NGA, a Mexican court needs both waivers");

    // The SPEC's table of section 9.1, for a disclosure by MEX.
    let other_kinds = [AuthorityKind::AdministrativeBody, AuthorityKind::LawEnforcement, AuthorityKind::Prosecution];
    let at = |kinds: &[AuthorityKind], code: &str| -> Vec<Authority> {
        kinds.iter().map(|&kind| Authority { kind, name: "n".into(), state: state(code) }).collect()
    };
    let waivers = [(true, true), (false, true), (true, false), (false, false)];
    let rows = spec_rows_after("| Disclosure to | none waived | court waived | onward waived | both waived |");
    let mut labels = Vec::new();
    for row in &rows {
        labels.push(row[0].as_str());
        let authorities = match row[0].as_str() {
            "a court of the discloser's State" => at(&[AuthorityKind::Court], "MEX"),
            "a court of another State" => at(&[AuthorityKind::Court], "DEU"),
            "another State Party (StateParty)" => at(&[AuthorityKind::StateParty], "DEU"),
            "any other authority of the discloser's State" => at(&other_kinds, "MEX"),
            "any other authority of another State" => at(&other_kinds, "DEU"),
            other => panic!("SPEC.md names no such authority: {other:?}"),
        };
        for authority in authorities {
            let computed: Vec<&str> = waivers
                .iter()
                .map(|&(court, onward)| {
                    let h = Handling {
                        no_court_without_consent: court,
                        no_onward_without_consent: onward,
                        ..Handling::default()
                    };
                    if h.needs_consent(&authority, state("MEX")) { "needed" } else { "not needed" }
                })
                .collect();
            assert_eq!(row[1..], computed, "{}", row[0]);
        }
    }
    assert_eq!(labels.len(), 5, "one row per case");
    let check = |handling: Handling| Body::Note(Note { text: "t".into(), handling }).validate().is_ok();
    assert!(check(Handling::default()));
    assert!(check(Handling { conditions: vec!["c".into(); 20], ..Handling::default() }));
    assert!(!check(Handling { conditions: vec!["c".into(); 21], ..Handling::default() }));
    assert!(!check(Handling { conditions: vec![" ".into()], ..Handling::default() }));
    assert!(check(Handling { conditions: vec!["é".repeat(1000)], ..Handling::default() }));
    assert!(!check(Handling { conditions: vec!["é".repeat(1000) + "x"], ..Handling::default() }));
    assert!(!check(Handling { conditions: vec!["a\u{7}".into()], ..Handling::default() }));
    for (date, ok) in [("2027-02-28", true), ("2027-02-29", false), ("27-02-28", false), ("2027-2-28", false)] {
        assert_eq!(check(Handling { use_until: Some(date.into()), ..Handling::default() }), ok, "{date}");
    }
}

#[test]
fn the_spec_consent_verifies_and_binds_its_parties() {
    let world = World::build();
    let (signed, bytes, record) = signed_vector("consent", "record", "consent", &world.consent);
    assert_eq!(record[..16], world.exchange_id);
    assert_eq!(record[16..32], world.consent_request_id);
    assert_eq!(&record[32..38], b"SWEMEX");
    assert_eq!(record[record.len() - 8..], CONSENT_DECIDED_AT.to_le_bytes());
    signed.verify(&world.swe.public()).expect("signed by SWE");
    assert!(signed.verify(&world.mex.public()).is_err());
    assert!(world.swe.public().verify(domain::CONSENT, &record, &signed.signature).is_ok());
    signed.record.validate().expect("the SPEC's record is valid");
    // A ConsentDecision body is variant 5, then these bytes.
    let body = Body::ConsentDecision(signed.clone());
    assert_eq!(enc("body", &body), [5u32.to_le_bytes().as_slice(), &bytes].concat());

    // On receipt (section 9.4): from the grantor, to the grantee alone, in its exchange.
    let header = Header {
        message_id: MessageId(issued("SWE", "consent decision message id")),
        created_at: CONSENT_DECIDED_AT,
        kind: MessageKind::ConsentDecision,
        ..response_header(&world)
    };
    assert_eq!(body.check_signed_parts(&header), Ok(()));
    let refused = |h: Header| body.check_signed_parts(&h).is_err();
    assert!(refused(Header { sender: state("NGA"), ..header.clone() }));
    assert!(refused(Header { sender_key: world.mex.public(), ..header.clone() }));
    assert!(refused(Header { recipients: vec![state("NGA")], ..header.clone() }));
    assert!(refused(Header { recipients: vec![state("MEX"), state("NGA")], ..header.clone() }));
    assert!(refused(Header { exchange_id: ExchangeId([0; 16]), ..header.clone() }));
    let mut altered = signed.clone();
    altered.record.case_reference = "CP-113/2026".into();
    assert!(Body::ConsentDecision(altered).check_signed_parts(&header).is_err());
    // Requests and revocations sign nothing of their own.
    let request = Body::ConsentRequest(world.consent_request.clone());
    request.validate().expect("the request is valid");
    assert_eq!(request.check_signed_parts(&header), Ok(()));

    // The rules of section 7.
    let record_ok = |f: &dyn Fn(&mut ConsentRecord)| {
        let mut r = signed.record.clone();
        f(&mut r);
        r.validate().is_ok()
    };
    let item = |i: u16| ItemRef { message_id: MessageId(world.response_message_id), index: i };
    assert!(!record_ok(&|r| r.decision = Decision::Granted { items: vec![], conditions: vec![], expires_at: None }));
    assert!(!record_ok(
        &|r| r.decision = Decision::Granted { items: vec![item(0), item(0)], conditions: vec![], expires_at: None }
    ));
    let many = |n: usize| (0..n).map(|i| item(u16::try_from(i).expect("u16"))).collect::<Vec<_>>();
    assert!(record_ok(
        &|r| r.decision = Decision::Granted { items: many(MAX_ITEMS), conditions: vec![], expires_at: None }
    ));
    assert!(!record_ok(
        &|r| r.decision = Decision::Granted { items: many(MAX_ITEMS + 1), conditions: vec![], expires_at: None }
    ));
    assert!(!record_ok(&|r| r.decision =
        Decision::Granted { items: vec![item(0)], conditions: vec![], expires_at: Some(CONSENT_DECIDED_AT) }));
    assert!(!record_ok(&|r| r.decision =
        Decision::Granted { items: vec![item(0)], conditions: vec!["c".into(); 21], expires_at: None }));
    assert!(!record_ok(&|r| r.decision = Decision::Refused { reason: " ".into() }));
    assert!(record_ok(&|r| r.decision = Decision::Refused { reason: "Not while the inquiry is open.".into() }));
    assert!(!record_ok(&|r| r.authority.name = String::new()));
    assert!(!record_ok(&|r| r.purpose = String::new()));
    assert!(!record_ok(&|r| r.case_reference = "x".repeat(2001)));
    let revocation = |reason: &str| {
        Body::ConsentRevocation(Revocation {
            consent_request: MessageId(world.consent_request_id),
            reason: reason.into(),
        })
    };
    assert!(revocation("The case was closed.").validate().is_ok());
    assert!(revocation("").validate().is_err());
    let request_ok = |f: &dyn Fn(&mut ConsentRequest)| {
        let mut r = world.consent_request.clone();
        f(&mut r);
        Body::ConsentRequest(r).validate().is_ok()
    };
    assert!(!request_ok(&|r| r.items.clear()));
    assert!(!request_ok(&|r| r.items.push(r.items[0])));
    assert!(!request_ok(&|r| r.items = many(MAX_ITEMS + 1)));
    assert!(!request_ok(&|r| r.authority.name = "\u{1b}[2J".into()));
}

/// The directory version a disclosure package carries: version 3, which the
/// Secretariat signs with its new key after the handover of version 2, and
/// which admits SWE beside MEX.
fn directory_with_swe(world: &World) -> SignedDirectoryVersion {
    let registration = SignedRegistration::sign(
        Registration {
            state: state("SWE"),
            identity_key: world.swe.public(),
            encryption_key: world.swe_enc.public(),
            addresses: vec!["/ip4/192.0.2.9/tcp/7040".into()],
            operator: "ISP".into(),
            signed_at: REGISTRATION_SIGNED_AT,
        },
        &world.swe,
    )
    .expect("sign");
    let swe = DirectoryEntry {
        registration,
        status: EntryStatus::Active,
        admitted_at: DIRECTORY_3_ISSUED_AT,
        contacts: None,
        rotated_from: None,
    };
    let body = DirectoryVersion {
        version: 3,
        previous_hash: world.handover.hash().expect("hash"),
        issued_at: DIRECTORY_3_ISSUED_AT,
        change: "Admit SWE".into(),
        entries: vec![world.handover.body.entries[0].clone(), swe],
        handover: None,
    };
    SignedDirectoryVersion::sign(body, &world.secretariat_new).expect("sign")
}

/// The envelope in which SWE sent its response to MEX alone.
fn response_envelope(world: &World) -> Envelope {
    let recipients = [Recipient { state: state("MEX"), encryption_key: world.mex_enc.public() }];
    let body = Body::Response(world.response.clone());
    let draft = Draft {
        message_id: MessageId(world.response_message_id),
        exchange_id: ExchangeId(world.exchange_id),
        sender: state("SWE"),
        recipients: &recipients,
        sender_encryption_key: world.swe_enc.public(),
        created_at: RESPONSE_CREATED_AT,
        body: &body,
    };
    let mut rng = ScriptedRng::new(&[
        &fixed::<32>("response content key"),
        &fixed::<12>("response nonce"),
        &fixed::<32>("response ikmE MEX"),
        &fixed::<32>("response ikmE SWE"),
    ]);
    let envelope = Envelope::seal(&draft, &world.swe, &mut rng).expect("seal");
    assert_eq!((rng.draws.as_slice(), rng.script.len() - rng.pos), ([32, 12, 32, 32].as_slice(), 0));
    envelope
}

/// MEX's package disclosing SWE's item to the court, with SWE's consent.
fn spec_package(world: &World) -> Package {
    let envelope = response_envelope(world);
    // MEX received it: the checks of section 9.4 pass.
    let opened = envelope.open(state("MEX"), &world.mex_enc).expect("MEX opens");
    assert_eq!(opened.check_signed_parts(&envelope.header), Ok(()));
    let record = &world.consent.record;
    let mut package = Package {
        format: disclosure::FORMAT.into(),
        disclosure_id: DisclosureId(fixed("disclosure id")),
        created_at: DISCLOSED_AT,
        discloser: state("MEX"),
        originator: state("SWE"),
        exchange_id: ExchangeId(world.exchange_id),
        authority: court(),
        purpose: PURPOSE.into(),
        case_reference: CASE_REFERENCE.into(),
        messages: vec![DisclosedMessage {
            message_id: MessageId(world.response_message_id),
            sent_at: RESPONSE_CREATED_AT,
            handling: response_handling(),
        }],
        items: vec![DisclosedItem {
            item_ref: ItemRef { message_id: MessageId(world.response_message_id), index: 0 },
            item: response_item(),
            salt: Bytes32(world.item_salt),
        }],
        consent: Some(ConsentSummary {
            consent_request: record.consent_request,
            decided_at: record.decided_at,
            conditions: vec!["Disclose in closed session only.".into()],
            expires_at: record.expires_at(),
        }),
        proofs: Proofs {
            secretariat_key: h(world.secretariat_new.public().0),
            directory: h(enc("directory", &directory_with_swe(world))),
            envelopes: vec![h(enc("envelope", &envelope))],
            statements: vec![h(enc("signed item statement", &world.statement))],
            consent: Some(h(enc("signed consent", &world.consent))),
        },
        signature: String::new(),
    };
    package.sign(&world.mex).expect("MEX signs the package");
    package
}

/// Section 12.20: MEX's and SWE's joint report, registered by the Secretariat.
struct SpecReport {
    signed: SignedCspReport,
    registration: SignedReportRegistration,
    file: ReportFile,
}

fn spec_report_draft() -> CspReport {
    CspReport {
        report_id: veim_protocol::ids::ReportId(issued("MEX", "report id")),
        revision: 2,
        drafter: state("MEX"),
        authors: vec![state("MEX"), state("SWE")],
        period: "2026-01-01..2026-12-31".parse().expect("period"),
        language: Language::Es,
        title: "Informe conjunto".into(),
        figures: Figures {
            exchanges: 1,
            by_provision: [("11.4".to_string(), 1)].into(),
            by_stage: [("diversion-detected".to_string(), 1)].into(),
            by_outcome: [("diversion-prevented".to_string(), 1)].into(),
            answered: 1,
            response_days_median: Some(0),
            response_days_max: Some(0),
        },
        counterparts: [(state("SWE"), 1)].into(),
        sections: vec![Section { heading: "Resumen".into(), text: "Un intercambio.".into() }],
        drafted_at: REPORT_DRAFTED_AT,
    }
}

fn spec_report(world: &World) -> SpecReport {
    let draft = spec_report_draft();
    let approvals = vec![
        Approval::sign(&draft, state("MEX"), &world.mex).expect("MEX approves"),
        Approval::sign(&draft, state("SWE"), &world.swe).expect("SWE approves"),
    ];
    let keys = vec![(state("MEX"), world.mex.public()), (state("SWE"), world.swe.public())];
    let registration = ReportRegistration {
        report_id: draft.report_id,
        draft_hash: draft.draft_hash().expect("hash"),
        keys: keys.clone(),
        directory_version: 3,
        number: 1,
        registered_at: REPORT_REGISTERED_AT,
    };
    let registration =
        SignedReportRegistration::sign(registration, &world.secretariat_new).expect("the Secretariat signs");
    let signed = SignedCspReport { draft, approvals };
    let file =
        ReportFile::new(&signed, keys, Some((registration.clone(), world.secretariat_new.public()))).expect("a file");
    SpecReport { signed, registration, file }
}

#[test]
fn the_spec_csp_report_verifies_offline_and_each_fault_is_named() {
    let world = World::build();
    let SpecReport { signed, registration, file } = spec_report(&world);
    let from_spec: CspReport =
        codec::decode::<_, MAX_FRAME>("csp report", &spec_bytes("report.draft")).expect("decode");
    assert_eq!(from_spec, signed.draft);
    let secretariat = world.secretariat_new.public();
    let verified = file.verify(Some(&secretariat)).expect("the registered report verifies");
    assert_eq!((verified.number, verified.anchored), (Some(1), true));
    assert!(registration.verify(&secretariat).is_ok());
    assert!(registration.verify(&world.secretariat.public()).is_err());
    assert_eq!(file.format, report::FORMAT);
    // The approval signs (draft hash, signer) and nothing else.
    let body = spec_bytes("report.approval.swe.body");
    assert_eq!(body[..32], spec_bytes("report.draft-hash"));
    assert_eq!(body[32..], *b"SWE");

    // A changed draft: the file's hash, then the approvals, no longer hold.
    let mut changed = file.clone();
    changed.report.sections[0].text = "Dos intercambios.".into();
    assert!(matches!(changed.verify(None), Err(ReportError::DraftChanged { .. })));
    changed.draft_hash = h(changed.report.draft_hash().expect("hash").0);
    assert_eq!(changed.verify(None).map(|_| ()), Err(ReportError::StaleApproval(state("MEX"))));
    // A forged co-signature: SWE's approval made with MEX's key.
    let mut forged = file.clone();
    forged.approvals[1] = Approval::sign(&forged.report, state("SWE"), &world.mex).expect("sign");
    assert_eq!(forged.verify(None).map(|_| ()), Err(ReportError::ForgedApproval(state("SWE"))));
    // A State named without its signature: NGA as a counterpart.
    let mut named = signed.clone();
    named.draft.counterparts.insert(state("NGA"), 1);
    named.approvals = vec![
        Approval::sign(&named.draft, state("MEX"), &world.mex).expect("sign"),
        Approval::sign(&named.draft, state("SWE"), &world.swe).expect("sign"),
    ];
    let keys = |s: StateCode| match s.as_str() {
        "MEX" => Some(world.mex.public()),
        "SWE" => Some(world.swe.public()),
        _ => None,
    };
    assert_eq!(named.verify(keys), Err(ReportError::NamedWithoutSignature(state("NGA"))));
    // A missing approval.
    let mut missing = signed.clone();
    missing.draft.counterparts.clear();
    missing.approvals = vec![Approval::sign(&missing.draft, state("MEX"), &world.mex).expect("sign")];
    assert_eq!(missing.verify(keys), Err(ReportError::MissingApproval(state("SWE"))));
    // A registration under another key than the one pinned, or altered.
    assert!(matches!(file.verify(Some(&world.secretariat.public())), Err(ReportError::SecretariatKeyMismatch { .. })));
    let mut altered = file.clone();
    if let Some(p) = altered.registration.as_mut() {
        p.registration.registration.number = 2;
    }
    assert_eq!(altered.verify(None).map(|_| ()), Err(ReportError::RegistrationForged));
}

#[test]
fn the_spec_disclosure_package_verifies_offline() {
    let world = World::build();
    let package = spec_package(&world);
    let secretariat = world.secretariat_new.public();
    let verified = package.verify(Some(&secretariat)).expect("the package verifies");
    assert_eq!(verified.originator_fingerprint, world.swe.public().fingerprint());
    assert_eq!(verified.secretariat_fingerprint, secretariat.fingerprint());
    assert_eq!((verified.items, verified.messages, verified.directory_version), (1, 1, 3));
    assert_eq!(verified.consent, Some(MessageId(world.consent_request_id)));
    assert!(verified.anchored);
    assert!(!package.verify(None).expect("verifies against its own key").anchored);

    // The discloser signs the package's encoding with an empty signature.
    let signed = package.signed_bytes().expect("encode");
    let unsigned = Package { signature: String::new(), ..package.clone() };
    assert_eq!(signed, enc("package", &unsigned));
    assert_eq!(signed[..8], 17u64.to_le_bytes(), "the format's length comes first");
    assert_eq!(signed[signed.len() - 8..], 0u64.to_le_bytes(), "then, last, the empty signature");
    let signature: [u8; 64] = hex::decode(&package.signature).expect("hex").try_into().expect("64 bytes");
    assert_eq!(package.signature, h(signature), "lower-case hex");
    assert!(world.mex.public().verify(domain::DISCLOSURE, &signed, &signature).is_ok());

    // In human-readable form, ids, salts and keys are hex strings.
    let text = toml::to_string(&package).expect("toml");
    let value: toml::Value = toml::from_str(&text).expect("parse");
    assert_eq!(value["disclosure_id"].as_str(), Some(h(fixed::<16>("disclosure id")).as_str()));
    assert_eq!(value["exchange_id"].as_str(), Some(h(world.exchange_id).as_str()));
    assert_eq!(value["originator"].as_str(), Some("SWE"));
    assert_eq!(value["authority"]["kind"].as_str(), Some("court"));
    let item = &value["items"][0];
    assert_eq!(item["salt"].as_str(), Some(h(world.item_salt).as_str()));
    assert_eq!(item["item_ref"]["message_id"].as_str(), Some(h(world.response_message_id).as_str()));
    assert_eq!(item["item_ref"]["index"].as_integer(), Some(0));
    assert!(item["item"]["broker"]["name"].is_str());
    assert_eq!(value["proofs"]["statements"][0].as_str(), Some(h(spec_bytes("statement.bytes")).as_str()));
    assert_eq!(toml::from_str::<Package>(&text).expect("read back"), package);

    // Each failure, in the order of section 10.2. The altered package is
    // signed anew, so that the check named fails and not the signature.
    let fails = |f: &dyn Fn(&mut Package)| {
        let mut p = package.clone();
        f(&mut p);
        p.sign(&world.mex).expect("sign");
        p.verify(Some(&secretariat)).expect_err("the altered package must not verify")
    };
    let passes = |f: &dyn Fn(&mut Package)| {
        let mut p = package.clone();
        f(&mut p);
        p.sign(&world.mex).expect("sign");
        p.verify(Some(&secretariat)).is_ok()
    };
    assert!(matches!(fails(&|p| p.format = "veim-disclosure/2".into()), PackageError::Format(_)));
    assert!(matches!(fails(&|p| p.proofs.secretariat_key = "00".into()), PackageError::SecretariatKey(_)));
    let other_key = package.verify(Some(&world.mex.public())).expect_err("another Secretariat key");
    assert!(matches!(other_key, PackageError::SecretariatKeyMismatch { .. }));
    let by_mex = SignedDirectoryVersion::sign(directory_with_swe(&world).body, &world.mex).expect("sign");
    assert!(matches!(fails(&|p| p.proofs.directory = h(enc("directory", &by_mex))), PackageError::Directory(_)));
    let mex_only = DirectoryVersion { entries: world.handover.body.entries.clone(), ..directory_with_swe(&world).body };
    let mex_only = SignedDirectoryVersion::sign(mex_only, &world.secretariat_new).expect("sign");
    assert!(matches!(
        fails(&|p| p.proofs.directory = h(enc("directory", &mex_only))),
        PackageError::NotListed { version: 3, state: s } if s == state("SWE")
    ));
    assert!(matches!(
        fails(&|p| p.discloser = state("NGA")),
        PackageError::NotListed { version: 3, state: s } if s == state("NGA")
    ));
    assert!(matches!(fails(&|p| p.items.clear()), PackageError::Empty));
    let forged = SignedItemStatement { signature: world.consent.signature, ..world.statement.clone() };
    assert!(matches!(
        fails(&|p| p.proofs.statements = vec![h(enc("s", &forged))]),
        PackageError::Statement { position: 0, .. }
    ));
    assert!(matches!(
        fails(&|p| p.proofs.envelopes = vec![h(spec_bytes("envelope.bytes"))]),
        PackageError::Envelope { position: 0, .. }
    ));
    assert!(matches!(fails(&|p| p.proofs.statements.push(p.proofs.statements[0].clone())), PackageError::Duplicate(_)));
    assert!(matches!(fails(&|p| p.proofs.envelopes.push(p.proofs.envelopes[0].clone())), PackageError::Duplicate(_)));
    assert!(matches!(fails(&|p| p.messages.push(p.messages[0].clone())), PackageError::Duplicate(_)));
    assert!(matches!(fails(&|p| p.proofs.envelopes.clear()), PackageError::Unpaired(_)));
    assert!(matches!(fails(&|p| p.exchange_id = ExchangeId([0; 16])), PackageError::WrongOrigin { .. }));
    assert!(matches!(
        fails(&|p| p.messages[0].handling.no_onward_without_consent = true),
        PackageError::HandlingAltered(_)
    ));
    assert!(matches!(fails(&|p| p.messages[0].sent_at += 1), PackageError::HandlingAltered(_)));
    assert!(matches!(fails(&|p| p.created_at = 1_830_297_600), PackageError::UseExpired { .. }));
    let extra = DisclosedMessage { message_id: MessageId([9; 16]), ..package.messages[0].clone() };
    assert!(matches!(fails(&|p| p.messages.push(extra.clone())), PackageError::MissingStatement(_)));
    assert!(matches!(fails(&|p| p.items[0].item_ref.index = 1), PackageError::NoSuchItem { count: 1, .. }));
    assert!(matches!(fails(&|p| p.items[0].salt.0[0] ^= 1), PackageError::ItemAltered { position: 0, .. }));
    assert!(matches!(
        fails(&|p| p.items[0].item = InformationItem::Other { title: "t".into(), details: "d".into() }),
        PackageError::ItemAltered { .. }
    ));
    let no_consent = |p: &mut Package| {
        p.consent = None;
        p.proofs.consent = None;
    };
    assert!(matches!(fails(&no_consent), PackageError::NoConsent { kind: AuthorityKind::Court, .. }));
    assert!(matches!(fails(&|p| p.proofs.consent = None), PackageError::ConsentMismatch(_)));
    assert!(matches!(fails(&|p| p.proofs.consent = Some("zz".into())), PackageError::ConsentDamaged(_)));
    let by_mex = SignedConsent::sign(world.consent.record.clone(), &world.mex).expect("sign");
    assert!(matches!(fails(&|p| p.proofs.consent = Some(h(enc("c", &by_mex)))), PackageError::ConsentNotSigned(_)));
    assert!(matches!(fails(&|p| p.authority.name = "Another court".into()), PackageError::ConsentMismatch(_)));
    assert!(passes(&|p| p.authority.name = format!(" {}\n", p.authority.name)), "names compare trimmed");
    assert!(matches!(fails(&|p| p.case_reference = "CP-113/2026".into()), PackageError::ConsentMismatch(_)));
    assert!(matches!(
        fails(&|p| p.consent.as_mut().expect("consent").conditions.clear()),
        PackageError::ConsentMismatch(_)
    ));
    assert!(matches!(fails(&|p| p.created_at = CONSENT_EXPIRES_AT), PackageError::ConsentExpired));
    assert!(passes(&|p| p.created_at = CONSENT_EXPIRES_AT - 1));
    assert!(matches!(fails(&|p| p.created_at = CONSENT_DECIDED_AT - 1), PackageError::BeforeConsent));
    assert!(passes(&|p| p.created_at = CONSENT_DECIDED_AT));
    // The discloser's signature is checked last: any other change of the
    // package, or another signer, fails there.
    let not_signed = |f: &dyn Fn(&mut Package)| {
        let mut p = package.clone();
        f(&mut p);
        matches!(p.verify(Some(&secretariat)), Err(PackageError::NotSignedByDiscloser(s)) if s == state("MEX"))
    };
    assert!(not_signed(&|p| p.disclosure_id = DisclosureId([0; 16])));
    assert!(not_signed(&|p| p.created_at += 1));
    assert!(not_signed(&|p| p.signature.clear()));
    // The signature covers the hex text as written: upper case reads, but
    // is not what was signed.
    assert!(not_signed(&|p| p.proofs.consent = p.proofs.consent.as_ref().map(|c| c.to_uppercase())));
    assert!(passes(&|p| p.proofs.consent = p.proofs.consent.as_ref().map(|c| c.to_uppercase())));
    let mut by_swe = package.clone();
    by_swe.sign(&world.swe).expect("sign");
    assert!(matches!(by_swe.verify(Some(&secretariat)), Err(PackageError::NotSignedByDiscloser(_))));

    // SWE waived consent for onward transmission: a package for another
    // State Party needs none.
    let to_state = |p: &mut Package| {
        no_consent(p);
        p.authority = Authority { kind: AuthorityKind::StateParty, name: "Ministry".into(), state: state("NGA") };
    };
    assert!(passes(&to_state));
}

/// The first code block after the first line of the SPEC containing `marker`,
/// split into words.
fn spec_list_after(marker: &str) -> Vec<String> {
    let mut lines = SPEC.lines().skip_while(|l| !l.contains(marker));
    assert!(lines.next().is_some(), "SPEC.md has no line with {marker:?}");
    let mut lines = lines.skip_while(|l| !l.trim().starts_with("```")).skip(1);
    let mut words = Vec::new();
    for l in lines.by_ref() {
        if l.trim().starts_with("```") {
            return words;
        }
        words.extend(l.split_whitespace().map(String::from));
    }
    panic!("the code block after {marker:?} is not closed")
}

fn all_three_letter_codes() -> impl Iterator<Item = String> {
    let letters = b'A'..=b'Z';
    letters.clone().flat_map(move |a| {
        let letters = letters.clone();
        letters
            .clone()
            .flat_map(move |b| letters.clone().map(move |c| String::from_utf8(vec![a, b, c]).expect("ASCII")))
    })
}

/// The `pub const NAME: &str = "value";` lines of the crate's `keys::domain`
/// module, read from its source: a constant added there fails the check below
/// until this test and the SPEC list it.
fn crate_domain_constants() -> Vec<(String, String)> {
    let source = include_str!("../src/keys.rs");
    let (_, module) = source.split_once("pub mod domain {").expect("keys.rs has `pub mod domain`");
    let (module, _) = module.split_once('}').expect("the domain module is closed");
    let mut constants = Vec::new();
    for line in module.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("//")) {
        let constant = line
            .strip_prefix("pub const ")
            .and_then(|rest| rest.split_once(": &str = \""))
            .and_then(|(name, value)| Some((name.to_string(), value.strip_suffix("\";")?.to_string())));
        constants.push(constant.unwrap_or_else(|| panic!("cannot read the domain constant {line:?} of keys.rs")));
    }
    constants
}

#[test]
fn spec_domain_strings_match_the_crate() {
    let checked = [
        ("ENVELOPE_SIGNATURE", domain::ENVELOPE_SIGNATURE),
        ("ENVELOPE_BODY", domain::ENVELOPE_BODY),
        ("CONTENT_KEY", domain::CONTENT_KEY),
        ("CONTENT_KEY_COMMITMENT", domain::CONTENT_KEY_COMMITMENT),
        ("ENVELOPE_HASH", domain::ENVELOPE_HASH),
        ("RECEIPT", domain::RECEIPT),
        ("REGISTRATION", domain::REGISTRATION),
        ("DIRECTORY_SIGNATURE", domain::DIRECTORY_SIGNATURE),
        ("DIRECTORY_HASH", domain::DIRECTORY_HASH),
        ("KEY_FINGERPRINT", domain::KEY_FINGERPRINT),
        ("EXCHANGE_ID", domain::EXCHANGE_ID),
        ("CONTACTS_SIGNATURE", domain::CONTACTS_SIGNATURE),
        ("CONTACTS_HASH", domain::CONTACTS_HASH),
        ("KEY_ROTATION", domain::KEY_ROTATION),
        ("SECRETARIAT_HANDOVER", domain::SECRETARIAT_HANDOVER),
        ("ITEM_COMMITMENT", domain::ITEM_COMMITMENT),
        ("ITEM_STATEMENT", domain::ITEM_STATEMENT),
        ("CONSENT", domain::CONSENT),
        ("DISCLOSURE", domain::DISCLOSURE),
        ("AUDIT_ENTRY", domain::AUDIT_ENTRY),
        ("AUDIT_CHECKPOINT", domain::AUDIT_CHECKPOINT),
        ("AUDIT_TREE_HEAD", domain::AUDIT_TREE_HEAD),
        ("CSP_REPORT_DRAFT", domain::CSP_REPORT_DRAFT),
        ("CSP_REPORT_APPROVAL", domain::CSP_REPORT_APPROVAL),
        ("CSP_REPORT_REGISTRATION", domain::CSP_REPORT_REGISTRATION),
        ("REPORT_SIGNATURE", domain::REPORT_SIGNATURE),
        ("REPORT_HASH", domain::REPORT_HASH),
        ("PUBLICATION_SIGNATURE", domain::PUBLICATION_SIGNATURE),
        ("PUBLICATION_HASH", domain::PUBLICATION_HASH),
        ("PUBLICATION_CONTENT", domain::PUBLICATION_CONTENT),
        ("MEETING_REGISTRATION", domain::MEETING_REGISTRATION),
    ];
    let named: Vec<(String, String)> = checked.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    assert_eq!(crate_domain_constants(), named, "keys::domain and this test list different domain strings");
    // The SPEC's table holds exactly these rows, in the crate's order.
    let rows: Vec<String> =
        checked.iter().map(|(name, value)| format!("| `{name}` | `{value}` | `{}` |", hex::encode(value))).collect();
    let table: Vec<&str> = SPEC
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != "| Name | String | Bytes (hex) |")
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert_eq!(table, rows, "the SPEC's domain table differs from the crate's domain strings");
}

/// The rows of the SPEC's table that follows the line `header`: every cell
/// of each, backquotes removed.
fn spec_rows_after(header: &str) -> Vec<Vec<String>> {
    let rows: Vec<Vec<String>> = SPEC
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != header)
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').collect();
            cells[1..cells.len() - 1].iter().map(|c| c.trim().replace('`', "")).collect()
        })
        .collect();
    assert!(!rows.is_empty(), "SPEC.md has no table under {header:?}");
    rows
}

/// The first two cells of each row of the SPEC's table under `header`.
fn spec_table_after(header: &str) -> Vec<(String, String)> {
    spec_rows_after(header).into_iter().map(|r| (r[0].clone(), r[1].clone())).collect()
}

/// The variant index of each value's encoding, with its name, in index order.
fn variant_indices<T: serde::Serialize>(values: &[T], name: impl Fn(&T) -> &'static str) -> Vec<(String, String)> {
    let mut out: Vec<(u32, &str)> = values
        .iter()
        .map(|v| {
            let bytes = enc("value", v);
            (u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")), name(v))
        })
        .collect();
    out.sort();
    out.into_iter().map(|(i, n)| (i.to_string(), n.to_string())).collect()
}

/// Every index a unit-only enum decodes, with its name, up to the first it refuses.
fn unit_variants<T: serde::de::DeserializeOwned + std::fmt::Debug>() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for index in 0u32.. {
        match codec::decode::<T, 4>("variant", &index.to_le_bytes()) {
            Ok(v) => out.push((index.to_string(), format!("{v:?}"))),
            Err(_) => return out,
        }
    }
    unreachable!()
}

#[test]
fn spec_message_and_contact_tables_match_the_crate() {
    let world = World::build();
    // Exhaustive matches: a new variant fails to compile here until the SPEC
    // and the samples below list it.
    let requests = [
        NetRequest::Register(world.registration.clone()),
        NetRequest::FetchDirectory { after: 0 },
        NetRequest::Deliver(Box::new(world.envelope.clone())),
        NetRequest::SubmitContacts(Box::new(world.contacts.clone())),
        NetRequest::RotateKeys(Box::new(world.rotation.clone())),
        NetRequest::DirectoryUpdated { version: 2 },
        NetRequest::Witness(Box::new(world.checkpoint.clone())),
        NetRequest::Reconcile(Box::new(world.inventory())),
        world.fetch_chunk(1),
        NetRequest::WitnessTree(Box::new(world.tree_witness())),
        NetRequest::CspDraft(Box::new(spec_report(&world).signed)),
        NetRequest::CspApproval {
            report_id: spec_report_draft().report_id,
            approval: spec_report(&world).signed.approvals[1].clone(),
        },
        NetRequest::CspComment {
            report_id: spec_report_draft().report_id,
            draft_hash: spec_report_draft().draft_hash().expect("hash"),
            text: "c".into(),
        },
        NetRequest::SubmitCspReport(Box::new(spec_report(&world).signed)),
        NetRequest::SubmitReport(Box::new(measures_report(&world))),
        NetRequest::FetchPublications { after: 1 },
        NetRequest::PublicationsUpdated { seq: 2 },
        NetRequest::RegisterForMeeting(Box::new(meeting_registration(&world))),
        NetRequest::FetchSnapshot,
    ];
    let request_name = |r: &NetRequest| match r {
        NetRequest::Register(_) => "Register",
        NetRequest::FetchDirectory { .. } => "FetchDirectory",
        NetRequest::Deliver(_) => "Deliver",
        NetRequest::SubmitContacts(_) => "SubmitContacts",
        NetRequest::RotateKeys(_) => "RotateKeys",
        NetRequest::DirectoryUpdated { .. } => "DirectoryUpdated",
        NetRequest::Witness(_) => "Witness",
        NetRequest::Reconcile(_) => "Reconcile",
        NetRequest::FetchChunk { .. } => "FetchChunk",
        NetRequest::WitnessTree(_) => "WitnessTree",
        NetRequest::CspDraft(_) => "CspDraft",
        NetRequest::CspApproval { .. } => "CspApproval",
        NetRequest::CspComment { .. } => "CspComment",
        NetRequest::SubmitCspReport(_) => "SubmitCspReport",
        NetRequest::SubmitReport(_) => "SubmitReport",
        NetRequest::FetchPublications { .. } => "FetchPublications",
        NetRequest::PublicationsUpdated { .. } => "PublicationsUpdated",
        NetRequest::RegisterForMeeting(_) => "RegisterForMeeting",
        NetRequest::FetchSnapshot => "FetchSnapshot",
    };
    assert_eq!(spec_table_after("| Index | Variant | Content | Sent to |"), variant_indices(&requests, request_name));

    let responses = [
        NetResponse::Registration(RegistrationStatus::Pending),
        NetResponse::Directory(vec![world.directory.clone()]),
        NetResponse::Receipt(world.receipt.clone()),
        NetResponse::Refused(Refusal { code: RefusalCode::Busy, detail: String::new() }),
        NetResponse::Acknowledged,
        NetResponse::Contacts(ContactsStatus::Pending),
        NetResponse::Witnessed(Some(Box::new(world.checkpoint.clone()))),
        NetResponse::Reconciled { missing: vec![MessageId(world.message_id)] },
        NetResponse::Chunk(world.sealed_chunk(1)),
        NetResponse::TreeWitnessed { held: 2 },
        NetResponse::CspReportRegistered(Box::new(spec_report(&world).registration)),
        NetResponse::Report(ReportStatus::Pending),
        NetResponse::Publications(publications(&world).to_vec()),
        NetResponse::MeetingRegistered { notice: 2, participants: 1 },
    ];
    let response_name = |r: &NetResponse| match r {
        NetResponse::Registration(_) => "Registration",
        NetResponse::Directory(_) => "Directory",
        NetResponse::Receipt(_) => "Receipt",
        NetResponse::Refused(_) => "Refused",
        NetResponse::Acknowledged => "Acknowledged",
        NetResponse::Contacts(_) => "Contacts",
        NetResponse::Witnessed(_) => "Witnessed",
        NetResponse::Reconciled { .. } => "Reconciled",
        NetResponse::Chunk(_) => "Chunk",
        NetResponse::TreeWitnessed { .. } => "TreeWitnessed",
        NetResponse::CspReportRegistered(_) => "CspReportRegistered",
        NetResponse::Report(_) => "Report",
        NetResponse::Publications(_) => "Publications",
        NetResponse::MeetingRegistered { .. } => "MeetingRegistered",
    };
    assert_eq!(spec_table_after("| Index | Variant | Content | Answers |"), variant_indices(&responses, response_name));

    let registration = [
        RegistrationStatus::Pending,
        RegistrationStatus::Admitted { version: 1 },
        RegistrationStatus::Rejected { reason: "r".into() },
    ];
    let registration_name = |r: &RegistrationStatus| match r {
        RegistrationStatus::Pending => "Pending",
        RegistrationStatus::Admitted { .. } => "Admitted { version: u64 }",
        RegistrationStatus::Rejected { .. } => "Rejected { reason: String }",
    };
    assert_eq!(
        spec_table_after("| Index | `RegistrationStatus` | Meaning |"),
        variant_indices(&registration, registration_name)
    );

    let contacts = [
        ContactsStatus::Pending,
        ContactsStatus::Accepted { version: 2 },
        ContactsStatus::Rejected { reason: "r".into() },
    ];
    let contacts_name = |c: &ContactsStatus| match c {
        ContactsStatus::Pending => "Pending",
        ContactsStatus::Accepted { .. } => "Accepted { version: u64 }",
        ContactsStatus::Rejected { .. } => "Rejected { reason: String }",
    };
    assert_eq!(spec_table_after("| Index | `ContactsStatus` | Meaning |"), variant_indices(&contacts, contacts_name));

    let roles = [ContactRole::NationalPoc, ContactRole::Alternate, ContactRole::FocalPoint("f".into())];
    let role_name = |r: &ContactRole| match r {
        ContactRole::NationalPoc => "NationalPoc",
        ContactRole::Alternate => "Alternate",
        ContactRole::FocalPoint(_) => "FocalPoint(String)",
    };
    assert_eq!(spec_table_after("| Index | `ContactRole` | Meaning |"), variant_indices(&roles, role_name));

    assert_eq!(spec_table_after("| Index | `Visibility` | Meaning |"), unit_variants::<Visibility>());
    assert_eq!(
        spec_table_after("| Index | `ContactField` | Leaves out of the public section |"),
        unit_variants::<ContactField>()
    );
    // And each field named leaves out the field of that name.
    for row in spec_rows_after("| Index | `ContactField` | Leaves out of the public section |") {
        let field: ContactField =
            codec::decode::<_, 4>("field", &row[0].parse::<u32>().expect("index").to_le_bytes()).expect("a field");
        let contact = PointOfContact { restricted_fields: vec![field], ..contact_set().contacts[0].clone() };
        let public = contact.public_view().expect("public");
        let left_out = match row[2].as_str() {
            "name" => public.name.is_empty(),
            "job_title" => public.job_title.is_empty(),
            "ministry" => public.ministry.is_empty(),
            "emails" => public.emails.is_empty(),
            "phones" => public.phones.is_empty(),
            "office_address" => public.office_address.is_empty(),
            "languages" => public.languages.is_empty(),
            other => panic!("SPEC.md names no field of a contact: {other:?}"),
        };
        assert!(left_out, "{field:?} does not leave out {}", row[2]);
    }
}

#[test]
fn spec_body_and_consent_tables_match_the_crate() {
    let world = World::build();
    // MessageKind: index, variant and name.
    let kinds: Vec<Vec<String>> = unit_variants::<MessageKind>()
        .into_iter()
        .map(|(index, name)| {
            let kind: MessageKind =
                codec::decode::<_, 4>("kind", &index.parse::<u32>().expect("index").to_le_bytes()).expect("kind");
            vec![index, name, kind.as_str().to_string()]
        })
        .collect();
    assert_eq!(spec_rows_after("| Index | `MessageKind` | Name |"), kinds);

    // Body: exhaustive, so that a new variant fails to compile here until the
    // SPEC and the samples list it; each body's kind has the same index.
    let request = Request {
        summary: "s".into(),
        states_involved: vec![state("MEX")],
        stage: Stage::RiskAnalysis,
        provisions: vec![Provision::Art11_4],
        transfer: TransferInformation {
            categories: vec![ArmsCategory::SmallArmsAndLightWeapons],
            items: vec![],
            state_of_origin: None,
            transit_states: vec![],
            importing_state: None,
            end_user: None,
        },
        additional_information: None,
        handling: Handling::default(),
    };
    let bodies = [
        Body::Request(request),
        Body::Response(world.response.clone()),
        world.body.clone(),
        Body::Close(Close { reason: "done".into() }),
        Body::ConsentRequest(world.consent_request.clone()),
        Body::ConsentDecision(world.consent.clone()),
        Body::ConsentRevocation(Revocation {
            consent_request: MessageId(world.consent_request_id),
            reason: "r".into(),
        }),
        Body::Attachments(world.attachments.clone()),
    ];
    let bodies: Vec<Body> = bodies.into_iter().chain(progress_bodies()).collect();
    let body_name = |b: &Body| match b {
        Body::Request(_) => "Request",
        Body::Response(_) => "Response",
        Body::Note(_) => "Note",
        Body::Close(_) => "Close",
        Body::ConsentRequest(_) => "ConsentRequest",
        Body::ConsentDecision(_) => "ConsentDecision",
        Body::ConsentRevocation(_) => "ConsentRevocation",
        Body::Attachments(_) => "Attachments",
        Body::Measure(_) => "Measure",
        Body::StageMove(_) => "StageMove",
        Body::RespondBy(_) => "RespondBy",
        Body::Closing(_) => "Closing",
    };
    assert_eq!(spec_table_after("| Index | Variant | Content |"), variant_indices(&bodies, body_name));
    for body in &bodies {
        assert_eq!(enc("body", body)[..4], enc("kind", &body.kind())[..], "{}", body_name(body));
        assert_eq!(body.kind().is_consent(), body_name(body).starts_with("Consent"));
    }

    // AuthorityKind: index, variant and name.
    let authorities: Vec<Vec<String>> =
        spec_rows_after("| Index | `AuthorityKind` | Name | Meaning |").into_iter().map(|r| r[..3].to_vec()).collect();
    let computed: Vec<Vec<String>> = unit_variants::<AuthorityKind>()
        .into_iter()
        .map(|(index, name)| {
            let kind: AuthorityKind =
                codec::decode::<_, 4>("kind", &index.parse::<u32>().expect("index").to_le_bytes()).expect("kind");
            vec![index, name, kind.as_str().to_string()]
        })
        .collect();
    assert_eq!(authorities, computed);
    assert_eq!(AuthorityKind::ALL.len(), computed.len());

    let decisions = [
        Decision::Granted { items: vec![], conditions: vec![], expires_at: None },
        Decision::Refused { reason: "r".into() },
    ];
    let decision_name = |d: &Decision| match d {
        Decision::Granted { .. } => "Granted",
        Decision::Refused { .. } => "Refused",
    };
    assert_eq!(spec_table_after("| Index | `Decision` | Fields |"), variant_indices(&decisions, decision_name));
}

#[test]
fn spec_entry_transitions_match_the_crate() {
    let rows = spec_rows_after("| Status | `Suspend` | `Reinstate` | `Withdraw` |");
    let statuses = [EntryStatus::Active, EntryStatus::Suspended, EntryStatus::Withdrawn];
    let actions = [EntryAction::Suspend, EntryAction::Reinstate, EntryAction::Withdraw];
    let computed: Vec<Vec<String>> = statuses
        .iter()
        .map(|from| {
            let mut row = vec![format!("{from:?}")];
            row.extend(actions.iter().map(|a| match from.after(*a) {
                Ok(to) => format!("{to:?}"),
                Err(_) => "refused".to_string(),
            }));
            row
        })
        .collect();
    assert_eq!(rows, computed);
    assert_eq!(unit_variants::<EntryStatus>(), spec_table_after("| Index | `EntryStatus` | Meaning |"));
}

#[test]
fn spec_refusal_codes_match_the_crate() {
    // Every variant index the crate decodes, up to the first it refuses.
    let mut codes = Vec::new();
    for index in 0u32.. {
        match codec::decode::<RefusalCode, 4>("refusal code", &index.to_le_bytes()) {
            Ok(code) => codes.push((index.to_string(), format!("{code:?}"))),
            Err(_) => break,
        }
    }
    assert_eq!(spec_table_after("| Index | Code | Meaning |"), codes);
    assert_eq!(enc("refusal code", &RefusalCode::Busy), 13u32.to_le_bytes());
}

#[test]
fn spec_forbidden_controls_match_the_crate() {
    // Section 7, as written in the SPEC (line breaks aside).
    const FORBIDDEN: &str = "none of U+0000–U+0008, U+000B, U+000C, U+000E–U+001F and U+007F–U+009F";
    let spec = SPEC.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(spec.contains(FORBIDDEN), "SPEC.md does not list the forbidden control characters as {FORBIDDEN:?}");
    let code = |s: &str| u32::from_str_radix(s.strip_prefix("U+").expect("U+ code point"), 16).expect("hex");
    let mut listed = Vec::new();
    for part in FORBIDDEN.trim_start_matches("none of ").split(", ").flat_map(|p| p.split(" and ")) {
        let (first, last) = part.split_once('–').unwrap_or((part, part));
        listed.extend(code(first)..=code(last));
    }
    let refused: Vec<u32> =
        (0..=0x10FFFF).filter_map(char::from_u32).filter(|c| is_forbidden_control(*c)).map(u32::from).collect();
    assert_eq!(refused, listed);
}

#[test]
fn the_spec_registration_is_valid_when_signed() {
    let world = World::build();
    let r = &world.registration.registration;
    r.validate(REGISTRATION_SIGNED_AT, 300).expect("valid at its own time");
    r.validate(REGISTRATION_SIGNED_AT + 300, 300).expect("valid at the edge of the window");
    assert!(r.validate(REGISTRATION_SIGNED_AT + 301, 300).is_err());
    assert!(r.validate(REGISTRATION_SIGNED_AT - 301, 300).is_err());
}

#[test]
fn spec_state_and_currency_lists_match_the_crate() {
    let states: Vec<String> = all_three_letter_codes().filter(|c| c.parse::<StateCode>().is_ok()).collect();
    assert_eq!(spec_list_after("### 2.3 State codes"), states);

    let with_currency = |currency: &str| Request {
        handling: Handling::default(),
        summary: "s".into(),
        states_involved: vec![state("MEX")],
        stage: Stage::RiskAnalysis,
        provisions: vec![Provision::Art11_4],
        transfer: TransferInformation {
            categories: vec![ArmsCategory::SmallArmsAndLightWeapons],
            items: vec![ItemDescription {
                description: "d".into(),
                number: 1,
                value: Some(Money { amount: "1".into(), currency: currency.into() }),
            }],
            state_of_origin: None,
            transit_states: vec![],
            importing_state: None,
            end_user: None,
        },
        additional_information: None,
    };
    let currencies: Vec<String> = all_three_letter_codes().filter(|c| with_currency(c).validate().is_ok()).collect();
    assert_eq!(spec_list_after("ISO 4217 codes"), currencies);
}

#[test]
fn spec_audit_tables_match_the_crate() {
    // Action: index, variant and name; `Action::ALL` lists every variant, in
    // index order, and the name is the JSON form.
    let computed: Vec<Vec<String>> = unit_variants::<Action>()
        .into_iter()
        .map(|(index, name)| {
            let action: Action =
                codec::decode::<_, 4>("action", &index.parse::<u32>().expect("index").to_le_bytes()).expect("action");
            vec![index, name, action.as_str().to_string()]
        })
        .collect();
    let actions: Vec<Vec<String>> =
        spec_rows_after("| Index | `Action` | Name | Meaning |").into_iter().map(|r| r[..3].to_vec()).collect();
    assert_eq!(actions, computed);
    let decoded: Vec<Action> = (0..computed.len())
        .map(|i| codec::decode::<_, 4>("action", &u32::try_from(i).expect("u32").to_le_bytes()).expect("action"))
        .collect();
    assert_eq!(Action::ALL.as_slice(), decoded.as_slice(), "Action::ALL is every action, in index order");
    for action in Action::ALL {
        assert_eq!(toml::Value::try_from(action).expect("serialize"), toml::Value::String(action.as_str().into()));
        assert_eq!(action.as_str().parse::<Action>(), Ok(action));
        assert_eq!(action.to_string(), action.as_str());
    }

    // Actor: index and variant (exhaustive, so that a new variant fails to
    // compile here until the SPEC lists it), and the JSON forms.
    let maria = audit::AccountName::parse("maria.lopez").expect("a name");
    let actors =
        [Actor::Node, Actor::Operator, Actor::Peer(Some(state("SWE"))), Actor::Stranger, Actor::Official(maria)];
    let actor_name = |a: &Actor| match a {
        Actor::Node => "Node",
        Actor::Operator => "Operator",
        Actor::Peer(_) => "Peer(Option<StateCode>)",
        Actor::Stranger => "Stranger",
        Actor::Official(_) => "Official(AccountName)",
    };
    assert_eq!(spec_table_after("| Index | `Actor` | JSON | Meaning |"), variant_indices(&actors, actor_name));
    assert_eq!(enc("actor", &Actor::Peer(None)), [2, 0, 0, 0, 0]);
    assert_eq!(enc("actor", &Actor::Peer(Some(state("SWE")))), [&[2, 0, 0, 0, 1][..], b"SWE"].concat());
    for (actor, json) in [(Actor::Node, "node"), (Actor::Operator, "operator"), (Actor::Stranger, "stranger")] {
        assert_eq!(toml::Value::try_from(actor).expect("serialize"), toml::Value::String(json.into()));
    }
    let peer = toml::Value::try_from(Actor::Peer(Some(state("SWE")))).expect("serialize");
    assert_eq!(peer["peer"].as_str(), Some("SWE"));
    // An official: index 4, then the name as a string.
    assert_eq!(
        enc("actor", &Actor::Official(maria)),
        [&[4, 0, 0, 0, 11, 0, 0, 0, 0, 0, 0, 0][..], b"maria.lopez"].concat()
    );
    let official = serde_json::to_value(Actor::Official(maria)).expect("serialize");
    assert_eq!(official, serde_json::json!({"official": "maria.lopez"}));
    for bad in ["", "Maria", "1maria", "maria lopez", &"a".repeat(33)] {
        assert!(audit::AccountName::parse(bad).is_err(), "{bad:?}");
    }
    let too_long = [&[4, 0, 0, 0, 33, 0, 0, 0, 0, 0, 0, 0][..], "a".repeat(33).as_bytes()].concat();
    assert!(codec::decode::<Actor, 64>("actor", &too_long).is_err(), "a name past 32 characters is refused");
}

#[test]
fn the_spec_audit_log_chains_and_is_checkpointed() {
    let world = World::build();
    let entries = &world.audit_entries;
    // Each entry decodes and encodes back; its hash is SHA-256 over the
    // domain, 0x00 and its encoding.
    let mut hashes = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let bytes = spec_bytes(&format!("audit.entry-{i}.bytes"));
        let decoded: Entry = codec::decode::<_, { codec::MAX_RECORD }>("audit entry", &bytes).expect("decode");
        assert_eq!(decoded, *entry);
        assert_eq!(enc("audit entry", &decoded), bytes);
        assert_eq!(bytes[..8], u64::try_from(i).expect("u64").to_le_bytes());
        let hash = spec_bytes(&format!("audit.entry-{i}.hash"));
        assert_eq!(hash, Sha256::digest([domain::AUDIT_ENTRY.as_bytes(), &[0], &bytes].concat()).as_slice());
        assert_eq!(veim_protocol::keys::hash(domain::AUDIT_ENTRY, &bytes).as_slice(), hash);
        hashes.push(Bytes32(hash.try_into().expect("32 bytes")));
    }
    // Entry 0 names 32 zero bytes as the previous hash, entry 1 the hash of entry 0.
    let first = spec_bytes("audit.entry-0.bytes");
    let second = spec_bytes("audit.entry-1.bytes");
    assert_eq!((first.len(), second.len()), (139, 138));
    assert_eq!(first[8..40], [0; 32]);
    assert_eq!(second[8..40], hashes[0].0);
    // Entry 0: Peer(None), then DirectoryAccepted (17); its object, the
    // directory hash and the change as detail.
    assert_eq!(first[48..57], [2, 0, 0, 0, 0, 17, 0, 0, 0]);
    assert_eq!(first[90..122], world.directory.hash().expect("hash"));
    // Entry 1: Operator, MessageSent (5), no State, the exchange, the
    // message, the kind Note (2), the envelope hash, no detail.
    assert_eq!(second[48..57], [1, 0, 0, 0, 5, 0, 0, 0, 0]);
    assert_eq!(second[57..74], [&[1u8][..], &world.exchange_id].concat());
    assert_eq!(second[74..91], [&[1u8][..], &world.message_id].concat());
    assert_eq!(second[91..97], [1, 2, 0, 0, 0, 0]);
    assert_eq!(second[98..130], spec_bytes("envelope.hash"));
    assert_eq!(second[130..], [0; 8]);
    assert_eq!(audit::verify_chain(entries), Ok(hashes.clone()));

    // The chain: a changed, removed or reordered entry is found at its position.
    let mut changed = entries.clone();
    changed[0].event.detail = "Admit SWE".into();
    assert_eq!(audit::verify_chain(&changed), Err(AuditError::Broken { position: 1 }));
    assert_eq!(audit::verify_chain(&entries[1..]), Err(AuditError::Sequence { position: 0, found: 1 }));
    let swapped = vec![entries[1].clone(), entries[0].clone()];
    assert_eq!(audit::verify_chain(&swapped), Err(AuditError::Sequence { position: 0, found: 1 }));
    let mut renumbered = entries[1..].to_vec();
    renumbered[0].seq = 0;
    assert_eq!(audit::verify_chain(&renumbered), Err(AuditError::Broken { position: 0 }));

    // The checkpoint: its encoding is the checkpoint, then the signature
    // over it by the key it names.
    let (signed, bytes, body) = signed_vector("audit.checkpoint", "body", "audit checkpoint", &world.checkpoint);
    assert_eq!((body.len(), bytes.len()), (85, 149));
    assert_eq!(body[..4], [&[1u8][..], b"MEX"].concat());
    assert_eq!(body[4..36], world.mex.public().0);
    assert_eq!(body[36..44], 2u64.to_le_bytes());
    assert_eq!(body[44..76], hashes[1].0);
    assert_eq!(body[76..84], CHECKPOINT_AT.to_le_bytes());
    assert_eq!(body[84..], [0], "no restore mark");
    signed.verify().expect("signed by the key it names");
    // Without a restore mark, the signature covers the first five fields.
    assert!(world.mex.public().verify(domain::AUDIT_CHECKPOINT, &body[..84], &signed.signature).is_ok());
    assert!(world.mex.public().verify(domain::AUDIT_CHECKPOINT, &body, &signed.signature).is_err());
    assert!(world.mex.public().verify(domain::AUDIT_ENTRY, &body[..84], &signed.signature).is_err());
    let checkpoint = signed.checkpoint.clone();
    assert!(SignedCheckpoint::sign(checkpoint.clone(), &world.swe).expect("sign").verify().is_err());
    let mut altered = signed.clone();
    altered.checkpoint.count = 1;
    assert!(altered.verify().is_err());
    // A checkpoint naming another key verifies under that key: who holds it
    // checks the key against the directory (section 11.3).
    let by_swe = Checkpoint { identity_key: world.swe.public(), ..checkpoint.clone() };
    SignedCheckpoint::sign(by_swe, &world.swe).expect("sign").verify().expect("verifies under the key it names");

    // A Witness request is variant 6, then these bytes; so is a Witnessed
    // answer, with the Option tag between.
    let request = enc("request", &NetRequest::Witness(Box::new(signed.clone())));
    assert_eq!(request, [6u32.to_le_bytes().as_slice(), &bytes].concat());
    let decoded: NetRequest = codec::decode::<_, MAX_FRAME>("request", &request).expect("decode");
    assert_eq!(decoded, NetRequest::Witness(Box::new(signed.clone())));
    let answer = enc("response", &NetResponse::Witnessed(Some(Box::new(signed.clone()))));
    assert_eq!(answer, [6u32.to_le_bytes().as_slice(), &[1], &bytes].concat());
    assert_eq!(enc("response", &NetResponse::Witnessed(None)), [6, 0, 0, 0, 0]);

    // The log verifies: the chain, the node's checkpoint, and the same
    // checkpoint as SWE holds it.
    let held = [("SWE".to_string(), signed.clone())];
    let report = audit::verify_log(entries, std::slice::from_ref(&signed), &held).expect("verifies");
    assert_eq!(
        report,
        LogReport {
            entries: 2,
            head: Some(hashes[1]),
            checkpoints: 2,
            covered: 2,
            keys: vec![world.mex.public().fingerprint()],
            tree_heads: 0,
        }
    );
    assert_eq!(audit::check_checkpoint(&hashes, &signed, 0, "this node"), Ok(()));
    // Cut after entry 0: the chain still holds, the checkpoints do not.
    assert_eq!(audit::verify_chain(&entries[..1]), Ok(hashes[..1].to_vec()));
    assert_eq!(
        audit::verify_log(&entries[..1], &[], &held),
        Err(AuditError::Truncated { holder: "SWE".into(), count: 2, have: 1 })
    );
    assert_eq!(
        audit::verify_log(&entries[..1], std::slice::from_ref(&signed), &[]),
        Err(AuditError::Truncated { holder: "this node".into(), count: 2, have: 1 })
    );
    // Entry 1 rewritten: the chain holds, the checkpoint names another head.
    let mut rewritten = entries.clone();
    rewritten[1].event.detail = "resent".into();
    assert!(audit::verify_chain(&rewritten).is_ok());
    assert_eq!(
        audit::verify_log(&rewritten, &[], &held),
        Err(AuditError::Rewritten { holder: "SWE".into(), count: 2 })
    );
    // Re-signed by the node over the rewritten log, its own checkpoints
    // agree with it; the one SWE holds does not.
    let resigned = SignedCheckpoint::sign(
        Checkpoint { head: rewritten[1].hash().expect("hash"), ..checkpoint.clone() },
        &world.mex,
    )
    .expect("sign");
    assert_eq!(
        audit::verify_log(&rewritten, std::slice::from_ref(&resigned), &held),
        Err(AuditError::Rewritten { holder: "SWE".into(), count: 2 })
    );
    // A bad signature, by position: the node's own checkpoints first, then those held.
    let mut forged = signed.clone();
    forged.signature[0] ^= 1;
    assert_eq!(
        audit::verify_log(entries, std::slice::from_ref(&forged), &held),
        Err(AuditError::CheckpointSignature { position: 0, count: 2 })
    );
    assert_eq!(
        audit::verify_log(entries, std::slice::from_ref(&signed), &[("SWE".into(), forged)]),
        Err(AuditError::CheckpointSignature { position: 1, count: 2 })
    );
    // A held checkpoint of another node's log.
    let of_swe = SignedCheckpoint::sign(Checkpoint { node: Some(state("SWE")), ..checkpoint.clone() }, &world.mex)
        .expect("sign");
    assert_eq!(
        audit::verify_log(entries, std::slice::from_ref(&signed), &[("NGA".into(), of_swe)]),
        Err(AuditError::OtherNode { holder: "NGA".into(), found: "SWE".into(), expected: "MEX".into() })
    );
    // A checkpoint of no entries covers nothing: only its signature counts.
    let empty = SignedCheckpoint::sign(Checkpoint { count: 0, ..checkpoint.clone() }, &world.mex).expect("sign");
    assert_eq!(audit::check_checkpoint(&[], &empty, 0, "this node"), Ok(()));

    // In the audit files (JSON Lines), one object per line, named after the
    // kind of line; ids, hashes and signatures in hex. (TOML here: the crate
    // has no JSON; the names and forms are serde's, the same in both.)
    let line = |l: &ExportLine| toml::Value::try_from(l).expect("serialize");
    let e = line(&ExportLine::Entry(entries[1].clone()));
    let e = &e["entry"];
    assert_eq!(e["seq"].as_integer(), Some(1));
    assert_eq!(e["previous"].as_str(), Some(h(hashes[0].0).as_str()));
    let ev = &e["event"];
    assert_eq!(ev["at"].as_integer(), Some(CREATED_AT));
    assert_eq!(
        (ev["actor"].as_str(), ev["action"].as_str(), ev["kind"].as_str()),
        (Some("operator"), Some("message-sent"), Some("note"))
    );
    assert_eq!(ev["exchange"].as_str(), Some(h(world.exchange_id).as_str()));
    assert_eq!(ev["message"].as_str(), Some(h(world.message_id).as_str()));
    assert_eq!(ev["hash"].as_str(), Some(h(spec_bytes("envelope.hash")).as_str()));
    let c = line(&ExportLine::Checkpoint(signed.clone()));
    let c = &c["checkpoint"];
    assert_eq!(c["signature"].as_str(), Some(h(signed.signature).as_str()));
    assert_eq!(c["checkpoint"]["node"].as_str(), Some("MEX"));
    assert_eq!(c["checkpoint"]["head"].as_str(), Some(h(hashes[1].0).as_str()));
    assert_eq!(c["checkpoint"]["count"].as_integer(), Some(2));
    // The identity key, like every fixed byte string, is hexadecimal.
    assert_eq!(c["checkpoint"]["identity_key"].as_str(), Some(h(world.mex.public().0).as_str()));
    let w = line(&ExportLine::Witnessed(signed.clone()));
    assert_eq!(w["witnessed"], line(&ExportLine::Checkpoint(signed.clone()))["checkpoint"]);
    let header = ExportLine::Header {
        format: audit::EXPORT_FORMAT.into(),
        node: Some(state("MEX")),
        entries: 2,
        exported_at: CHECKPOINT_AT,
    };
    let hl = line(&header);
    assert_eq!(hl["header"]["format"].as_str(), Some("veim-audit/1"));
    assert_eq!(hl["header"]["node"].as_str(), Some("MEX"));
    assert_eq!(hl["header"]["entries"].as_integer(), Some(2));
    assert_eq!(hl["header"]["exported_at"].as_integer(), Some(CHECKPOINT_AT));
    // (Entry 0's actor, Peer(None), has no TOML form: TOML has no null.)
    for l in [header, ExportLine::Entry(entries[1].clone()), ExportLine::Witnessed(signed)] {
        assert_eq!(line(&l).try_into::<ExportLine>().expect("read back"), l);
    }
}

#[test]
fn the_spec_attachment_chunk_seals_opens_and_travels() {
    let world = World::build();
    let r = &world.attachment;
    // The reference: id, name, size, SHA-256, chunk size, key.
    let bytes = spec_bytes("attachment.ref");
    let decoded: AttachmentRef = codec::decode::<_, { codec::MAX_BODY }>("attachment", &bytes).expect("decode");
    assert_eq!(decoded, *r);
    assert_eq!(enc("attachment", &decoded), bytes);
    assert_eq!(bytes.len(), 100 + ATTACHMENT_NAME.len());
    assert_eq!(bytes[..16], world.attachment_id);
    assert_eq!(bytes[16..24], (ATTACHMENT_NAME.len() as u64).to_le_bytes());
    assert_eq!(&bytes[24..35], ATTACHMENT_NAME.as_bytes());
    assert_eq!(bytes[35..43], 10u64.to_le_bytes());
    assert_eq!(bytes[43..75], spec_bytes("attachment.sha256"));
    assert_eq!(spec_bytes("attachment.sha256"), Sha256::digest(ATTACHMENT_FILE).as_slice());
    assert_eq!(bytes[75..79], 4u32.to_le_bytes());
    assert_eq!(bytes[79..], spec_bytes("random.attachment-key"));
    assert_eq!(spec_bytes("random.attachment-id"), world.attachment_id);

    // Three chunks, 4, 4 and 2 bytes; sealed, 20, 20 and 18, one after the other.
    assert_eq!(r.chunks(), 3);
    assert_eq!((r.chunk_len(0), r.chunk_len(1), r.chunk_len(2)), (4, 4, 2));
    assert_eq!((r.sealed_offset(1), r.sealed_offset(2)), (20, 40));
    assert_eq!(TAG, 16);

    // Chunk 1: the AAD and the nonce as section 6.8 builds them; the crate's
    // sealed chunk is ChaCha20-Poly1305 over them, under the key.
    let aad = spec_bytes("attachment.chunk-1.aad");
    assert_eq!(aad.len(), 56);
    assert_eq!(aad[..23], hex::decode("7665696d2f31206174746163686d656e74206368756e6b").expect("hex"));
    assert_eq!(aad, chunk_aad(world.attachment_id, 1, 3));
    assert_eq!(aad[24..40], world.attachment_id);
    assert_eq!(aad[40..], [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3]);
    let nonce = spec_bytes("attachment.chunk-1.nonce");
    assert_eq!(nonce, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    let sealed = spec_bytes("attachment.chunk-1.sealed");
    assert_eq!(sealed.len(), 4 + 16);
    {
        use chacha20poly1305::aead::{Aead, KeyInit, Payload};
        let cipher = chacha20poly1305::ChaCha20Poly1305::new(&world.attachment_key.into());
        let nonce: [u8; 12] = nonce.as_slice().try_into().expect("12 bytes");
        let independent =
            cipher.encrypt(&nonce.into(), Payload { msg: &ATTACHMENT_FILE[4..8], aad: &aad }).expect("encrypt");
        assert_eq!(independent, sealed);
        let plain = cipher.decrypt(&nonce.into(), Payload { msg: &sealed, aad: &aad }).expect("decrypt");
        assert_eq!(plain, b"4567");
    }
    assert_eq!(open_chunk(r, 1, &sealed).expect("opens at its place"), b"4567");

    // Only at its place: another index, another attachment, another number of
    // chunks, a changed byte, another key.
    assert!(matches!(open_chunk(r, 0, &sealed), Err(ChunkError::Tag { index: 0, .. })));
    assert!(matches!(open_chunk(r, 2, &sealed), Err(ChunkError::Length { index: 2, found: 20, expected: 18, .. })));
    assert!(matches!(open_chunk(r, 3, &sealed), Err(ChunkError::OutOfRange { index: 3, chunks: 3, .. })));
    let other = |f: &dyn Fn(&mut AttachmentRef)| {
        let mut o = r.clone();
        f(&mut o);
        open_chunk(&o, 1, &sealed)
    };
    assert!(matches!(other(&|o| o.id.0[0] ^= 1), Err(ChunkError::Tag { .. })));
    assert!(matches!(other(&|o| o.size = 14), Err(ChunkError::Tag { .. })), "4 chunks, chunk 1 still 4 bytes");
    assert!(matches!(other(&|o| o.key.0[0] ^= 1), Err(ChunkError::Tag { .. })));
    // Neither the name nor the SHA-256 is bound: they travel in the signed body.
    assert!(other(&|o| o.name = "other.txt".into()).is_ok());
    let mut flipped = sealed.clone();
    flipped[19] ^= 1;
    assert!(matches!(open_chunk(r, 1, &flipped), Err(ChunkError::Tag { .. })));
    // Sealing checks the length of the plaintext.
    assert!(matches!(seal_chunk(r, 2, b"89x"), Err(ChunkError::Length { .. })));

    // The whole file, chunk by chunk, gives back the bytes and their SHA-256.
    let mut plain = Vec::new();
    let mut file = Vec::new();
    for index in 0..r.chunks() {
        let s = world.sealed_chunk(index);
        assert_eq!(s.len() as u64, r.chunk_len(index) + TAG);
        assert_eq!(file.len() as u64, r.sealed_offset(index));
        file.extend_from_slice(&s);
        plain.extend(open_chunk(r, index, &s).expect("open"));
    }
    assert_eq!(plain, ATTACHMENT_FILE);
    assert_eq!(Sha256::digest(&plain).as_slice(), r.sha256.0);
    // An empty file is one empty chunk: its tag alone.
    let empty = AttachmentRef { size: 0, sha256: Bytes32(Sha256::digest(b"").into()), ..r.clone() };
    assert_eq!((empty.chunks(), empty.chunk_len(0)), (1, 0));
    assert_eq!(seal_chunk(&empty, 0, b"").expect("seal").len(), 16);

    // The body: variant 7, the text, one file, the default restrictions.
    let body = spec_bytes("attachment.body");
    let decoded: Body = codec::decode::<_, { codec::MAX_BODY }>("body", &body).expect("decode");
    assert_eq!(decoded, Body::Attachments(world.attachments.clone()));
    assert_eq!(decoded.kind(), MessageKind::Attachments);
    assert_eq!(decoded.handling(), Some(&Handling::default()));
    assert_eq!(enc("kind", &MessageKind::Attachments), 7u32.to_le_bytes());
    let text_end = 4 + 8 + ATTACHMENT_TEXT.len();
    assert_eq!(body[..4], 7u32.to_le_bytes());
    assert_eq!(body[4..12], (ATTACHMENT_TEXT.len() as u64).to_le_bytes());
    assert_eq!(body[text_end..text_end + 8], 1u64.to_le_bytes());
    assert_eq!(body[text_end + 8..body.len() - 12], spec_bytes("attachment.ref"));
    assert_eq!(body[body.len() - 12..], [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    decoded.validate().expect("the SPEC's attachments body is valid");

    // The frames: FetchChunk (variant 8, the id, the index little-endian)
    // and its answer Chunk (variant 8, the sealed chunk's length and bytes).
    let request = spec_bytes("frame.fetch-chunk");
    let payload = [8u32.to_le_bytes().as_slice(), &world.attachment_id, &1u64.to_le_bytes()].concat();
    assert_eq!(payload.len(), 28);
    assert_eq!(request, frame(&payload));
    let decoded: NetRequest = codec::decode::<_, MAX_FRAME>("request", &request[4..]).expect("decode");
    assert_eq!(decoded, world.fetch_chunk(1));
    let answer = spec_bytes("frame.chunk");
    let payload = [8u32.to_le_bytes().as_slice(), &20u64.to_le_bytes(), &sealed].concat();
    assert_eq!(payload.len(), 32);
    assert_eq!(answer, frame(&payload));
    let decoded: NetResponse = codec::decode::<_, MAX_FRAME>("response", &answer[4..]).expect("decode");
    assert_eq!(decoded, NetResponse::Chunk(sealed.clone()));
    // The largest chunk fits in a frame.
    assert!(4 + 8 + u64::from(MAX_CHUNK) + TAG <= MAX_FRAME as u64);

    // The limits the SPEC gives, digits grouped by three.
    let spec = SPEC.split_whitespace().collect::<Vec<_>>().join(" ");
    let grouped = |n: u64| {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(' ');
            }
            out.push(c);
        }
        out
    };
    for limit in [
        format!("`MAX_FILES` = {MAX_FILES}"),
        format!("`MAX_ATTACHMENT` = {}", grouped(MAX_ATTACHMENT)),
        format!("`MAX_CHUNK` = {}", grouped(u64::from(MAX_CHUNK))),
    ] {
        assert!(spec.contains(&limit), "SPEC.md does not give the crate's limit: {limit}");
    }
}

#[test]
fn the_spec_attachment_rules_hold() {
    let world = World::build();
    let valid = |f: &dyn Fn(&mut Attachments)| {
        let mut a = world.attachments.clone();
        f(&mut a);
        Body::Attachments(a).validate().is_ok()
    };
    let file = |f: &dyn Fn(&mut AttachmentRef)| valid(&|a: &mut Attachments| f(&mut a.files[0]));
    let numbered =
        |i: usize| AttachmentRef { id: AttachmentId([u8::try_from(i).expect("u8"); 16]), ..world.attachment.clone() };
    assert!(valid(&|_| {}));
    // The text may be empty; at most MAX_TEXT, no control characters.
    assert!(valid(&|a| a.text = String::new()));
    assert!(valid(&|a| a.text = "x".repeat(65_536)));
    assert!(!valid(&|a| a.text = "x".repeat(65_537)));
    assert!(!valid(&|a| a.text = "\u{1b}[2J".into()));
    // 1 to 16 files, no id twice.
    assert!(!valid(&|a| a.files.clear()));
    assert!(valid(&|a| a.files = (0..MAX_FILES).map(numbered).collect()));
    assert!(!valid(&|a| a.files = (0..=MAX_FILES).map(numbered).collect()));
    assert!(!valid(&|a| a.files.push(a.files[0].clone())));
    assert!(valid(&|a| a.files.push(numbered(1))));
    // The name: required, at most MAX_SUMMARY, a file name, not a path.
    assert!(!file(&|f| f.name = " ".into()));
    assert!(file(&|f| f.name = "é".repeat(1000)));
    assert!(!file(&|f| f.name = "é".repeat(1000) + "x"));
    assert!(!file(&|f| f.name = "../serials.txt".into()));
    assert!(!file(&|f| f.name = "C:\\serials.txt".into()));
    assert!(!file(&|f| f.name = "serials\u{7}.txt".into()));
    // The size: at most 1 GiB; the chunk size: 1 to 4 MiB.
    assert!(file(&|f| f.size = MAX_ATTACHMENT));
    assert!(!file(&|f| f.size = MAX_ATTACHMENT + 1));
    assert!(!file(&|f| f.chunk_size = 0));
    assert!(file(&|f| f.chunk_size = 1));
    assert!(file(&|f| f.chunk_size = MAX_CHUNK));
    assert!(!file(&|f| f.chunk_size = MAX_CHUNK + 1));
    // The restrictions follow the rules of every handling.
    assert!(!valid(&|a| a.handling.use_until = Some("2027-02-29".into())));
    // Section 9.4: a State sends files only under ids it made.
    let header = world.envelope.header.clone();
    assert_eq!(Body::Attachments(world.attachments.clone()).check_signed_parts(&header), Ok(()));
    let mut foreign = world.attachments.clone();
    foreign.files[0].id = AttachmentId(issued("SWE", "attachment id"));
    let refused = Body::Attachments(foreign).check_signed_parts(&header).expect_err("another State's file id");
    assert!(refused.contains("does not begin with the code of its sender MEX"), "{refused}");
    // In human-readable form the id, the hash and the key are hex.
    let value = toml::Value::try_from(&world.attachment).expect("serialize");
    assert_eq!(value["id"].as_str(), Some(h(world.attachment_id).as_str()));
    assert_eq!(value["key"].as_str(), Some(h(world.attachment_key).as_str()));
    assert_eq!(value["sha256"].as_str(), Some(h(world.attachment.sha256.0).as_str()));
}

/// The package of section 12.15: its JSON block, each `<name>` replaced by
/// the hex of that vector of the SPEC.
fn spec_package_json() -> String {
    let section = &SPEC[SPEC.find("### 12.15").expect("section 12.15")..];
    let start = section.find("```json\n").expect("a JSON block") + "```json\n".len();
    let end = start + section[start..].find("```").expect("the block closes");
    let vectors = spec_vectors().expect("the SPEC's vector blocks parse");
    let mut json = String::new();
    let mut rest = &section[start..end];
    while let Some(open) = rest.find('<') {
        let close = open + rest[open..].find('>').expect("a placeholder closes");
        let name = &rest[open + 1..close];
        json.push_str(&rest[..open]);
        json.push_str(&vectors.get(name).unwrap_or_else(|| panic!("vector {name} is missing")).to_lowercase());
        rest = &rest[close + 1..];
    }
    json.push_str(rest);
    json
}

/// JSON text with the whitespace between its tokens removed.
fn without_whitespace_outside_strings(json: &str) -> String {
    let (mut out, mut in_string, mut escaped) = (String::new(), false, false);
    for c in json.chars() {
        if in_string {
            in_string = escaped || c != '"';
            escaped = !escaped && c == '\\';
        } else if c == '"' {
            in_string = true;
        } else if c.is_whitespace() {
            continue;
        }
        out.push(c);
    }
    out
}

#[test]
fn the_spec_disclosure_package_verifies_and_not_once_a_byte_changes() {
    let world = World::build();
    let json = spec_package_json();
    let package: Package = serde_json::from_str(&json).expect("the SPEC's package reads");
    assert_eq!(package, spec_package(&world));
    assert_eq!(Sha256::digest(package_json(&package)).as_slice(), spec_bytes("disclosure.json-sha256"));
    assert_eq!(without_whitespace_outside_strings(&json).as_bytes(), package_json(&package), "the crate's JSON");
    let signed = spec_bytes("disclosure.signed-bytes");
    assert_eq!(package.signed_bytes().expect("encode"), signed);
    assert_eq!(package.signature, h(spec_bytes("disclosure.signature")));
    assert_eq!(signed[..25], [&17u64.to_le_bytes()[..], b"veim-disclosure/1"].concat());
    assert_eq!(signed[41..49], DISCLOSED_AT.to_le_bytes());
    assert_eq!(signed[signed.len() - 8..], 0u64.to_le_bytes());

    // Verified with the Secretariat's new key pinned, as section 12.15 says.
    let secretariat =
        veim_protocol::PublicIdentity(spec_bytes("key.secretariat-new-identity-public").try_into().expect("32 bytes"));
    let verified = package.verify(Some(&secretariat)).expect("the SPEC's package verifies");
    assert_eq!((verified.items, verified.messages, verified.directory_version), (1, 1, 3));
    assert_eq!(verified.consent, Some(MessageId(world.consent_request_id)));
    assert!(verified.anchored);

    // Its proofs: version 3 follows the handover version under the new key;
    // the envelope is SWE's, to MEX, and opens for MEX.
    let v3: SignedDirectoryVersion =
        codec::decode::<_, { codec::MAX_DIRECTORY }>("directory", &spec_bytes("disclosure.directory")).expect("decode");
    let head = world.handover.head().expect("head");
    assert_eq!(v3.check_successor(Some(&head), &secretariat, |_| None), Ok(Succession::Next));
    assert_eq!(v3.check_entries_kept(&world.handover.body), Ok(()));
    let envelope: Envelope =
        codec::decode::<_, MAX_FRAME>("envelope", &spec_bytes("disclosure.envelope")).expect("decode");
    assert!(envelope.verify(&world.swe.public()).is_ok());
    let opened = envelope.open(state("MEX"), &world.mex_enc).expect("MEX opens it");
    assert_eq!(enc("body", &opened), spec_bytes("response.body"));

    // A changed byte of what MEX signed, wherever it falls: the package no
    // longer decodes, or no longer verifies.
    let signature = package.signature.clone();
    let (mut tried, mut verified) = (0, 0);
    for i in (0..signed.len()).step_by(53).chain([41, signed.len() - 9]) {
        let mut changed = signed.clone();
        changed[i] ^= 0x01;
        tried += 1;
        if let Ok(mut altered) = codec::decode::<Package, { 4 * MAX_FRAME }>("package", &changed) {
            altered.signature = signature.clone();
            assert!(altered.verify(Some(&secretariat)).is_err(), "byte {i} changed");
            verified += 1;
        }
    }
    // Most changes still decode: the check above is of the signature, not of the decoder.
    assert!(verified * 2 >= tried, "only {verified} of {tried} changed packages decoded");
    let not_signed = |p: &Package| matches!(p.verify(Some(&secretariat)), Err(PackageError::NotSignedByDiscloser(_)));
    assert!(not_signed(&Package { created_at: DISCLOSED_AT + 1, ..package.clone() }));
    let mut directory = package.clone();
    directory
        .proofs
        .directory
        .replace_range(100..101, if &directory.proofs.directory[100..101] == "0" { "1" } else { "0" });
    assert!(matches!(directory.verify(Some(&secretariat)), Err(PackageError::Directory(_))));
    for i in 0..64 {
        let mut bytes = spec_bytes("disclosure.signature");
        bytes[i] ^= 0x01;
        assert!(not_signed(&Package { signature: h(bytes), ..package.clone() }), "signature byte {i}");
    }
}

#[test]
fn the_spec_tree_head_and_consistency_proofs_verify() {
    let world = World::build();
    let hash = |name: &str| Bytes32(spec_bytes(name).try_into().expect("32 bytes"));
    let (head, bytes, body) = signed_vector("tree.head", "body", "signed tree head", &world.tree_head);
    assert_eq!((bytes.len(), body.len()), (149, 85));
    assert_eq!(head.verify(), Ok(()));
    assert_eq!(head.head.node, Some(state("MEX")));
    assert_eq!(head.head.identity_key, world.mex.public());
    assert_eq!((head.head.count, head.head.at), (2, CHECKPOINT_AT));
    assert_eq!(head.head.root, hash("tree.root-2"));
    assert_eq!(
        veim_protocol::keys::domain_separated(domain::AUDIT_TREE_HEAD, &body),
        [b"veim/1 audit tree head\0".as_slice(), &body].concat()
    );
    // Without a restore mark, the signature covers the first five fields.
    assert_eq!(body[84], 0);
    assert!(world.mex.public().verify(domain::AUDIT_TREE_HEAD, &body[..84], &head.signature).is_ok());
    // Any byte of the head changed, or signed by another key: refused.
    let mut verified = 0;
    for i in 0..body.len() {
        let mut changed = bytes.clone();
        changed[i] ^= 0x01;
        if let Ok(altered) = codec::decode::<audit::SignedTreeHead, MAX_FRAME>("tree head", &changed) {
            assert!(altered.verify().is_err(), "byte {i} changed");
            verified += 1;
        }
    }
    assert!(verified * 2 >= body.len(), "only {verified} of {} changed heads decoded", body.len());
    let by_swe = audit::SignedTreeHead::sign(head.head.clone(), &world.swe).expect("sign");
    assert!(by_swe.verify().is_err());

    // The tree, from the SPEC's entry hashes alone.
    let mut entries = vec![hash("audit.entry-0.hash"), hash("audit.entry-1.hash")];
    entries.extend((2..=6).map(|i| hash(&format!("input.audit-entry-hash-{i}"))));
    let tree = veim_protocol::merkle::Tree::from_entries(&entries);
    for n in [2, 3, 7] {
        assert_eq!(tree.root(n), Some(hash(&format!("tree.root-{n}"))), "root of {n}");
    }
    let sub =
        |from: usize, to: usize| veim_protocol::merkle::Tree::from_entries(&entries[from..to]).root((to - from) as u64);
    let proofs = [
        (2u64, "tree.proof-2-7", vec![sub(2, 4), sub(4, 7)]),
        (3, "tree.proof-3-7", vec![sub(2, 3), sub(3, 4), sub(0, 2), sub(4, 7)]),
    ];
    let new_root = hash("tree.root-7");
    for (old, name, parts) in proofs {
        let proof: Vec<Bytes32> =
            spec_bytes(name).chunks(32).map(|c| Bytes32(c.try_into().expect("32 bytes"))).collect();
        assert_eq!(proof.iter().map(|h| Some(*h)).collect::<Vec<_>>(), parts, "{name} as section 12.16 says");
        assert_eq!(tree.consistency(old, 7), Some(proof.clone()));
        let old_root = hash(&format!("tree.root-{old}"));
        assert!(veim_protocol::merkle::verify_consistency(old, 7, &old_root, &new_root, &proof), "{name}");
        for i in 0..proof.len() * 32 {
            let mut changed = proof.clone();
            changed[i / 32].0[i % 32] ^= 0x01;
            assert!(
                !veim_protocol::merkle::verify_consistency(old, 7, &old_root, &new_root, &changed),
                "{name} byte {i}"
            );
        }
        let other = hash(&format!("tree.root-{}", 5 - old));
        assert!(!veim_protocol::merkle::verify_consistency(old, 7, &other, &new_root, &proof), "{name}");
        assert!(!veim_protocol::merkle::verify_consistency(old, 7, &new_root, &old_root, &proof), "{name}");
    }
}

#[test]
fn the_spec_progress_records_follow_section_7_2() {
    let [measure, _, respond_by, closing] = progress_bodies();
    for body in [&measure, &respond_by, &closing] {
        assert_eq!(codec::decode::<Body, MAX_FRAME>("body", &enc("body", body)).expect("decode"), *body);
        body.validate().expect("valid");
    }
    // 2026-01-01T13:00:00Z, the `created_at` of section 12.11: the measure of
    // 2025-12-30 is in the past; sent on 2025-12-29 it would be in the future.
    assert!(measure.check_dated(1_767_272_400).is_ok());
    let e = measure.check_dated(1_767_272_400 - 3 * 86_400).expect_err("dated after the day it is sent");
    assert_eq!(e.code(), "measure-dated-in-future");
    // Under 11.5 a shipment examined is not a measure of the mechanism.
    let Body::Measure(mut wrong) = measure.clone() else { unreachable!() };
    wrong.provision = Provision::Art11_5;
    let errors = Body::Measure(wrong).validate().expect_err("wrong provision");
    assert!(errors.0[0].problem.contains("record it under 11.4"), "{errors}");
    // A day beyond 9999-12-31 is refused on decode: the encoding stays canonical.
    let mut bytes = enc("body", &respond_by);
    bytes[4..8].copy_from_slice(&3_000_000i32.to_le_bytes());
    assert!(codec::decode::<Body, MAX_FRAME>("body", &bytes).is_err());
    assert!(MessageKind::Closing.closes() && MessageKind::Close.closes());
}

/// Every index a unit-only enum decodes, with its variant and the name
/// `name` gives it.
fn unit_variants_named<T: serde::de::DeserializeOwned + std::fmt::Debug>(
    name: impl Fn(&T) -> &str,
) -> Vec<Vec<String>> {
    unit_variants::<T>()
        .into_iter()
        .map(|(index, variant)| {
            let value: T =
                codec::decode::<_, 4>("variant", &index.parse::<u32>().expect("index").to_le_bytes()).expect("decodes");
            vec![index, variant, name(&value).to_string()]
        })
        .collect()
}

#[test]
fn spec_publication_tables_match_the_crate() {
    let world = World::build();
    let statuses =
        [ReportStatus::Pending, ReportStatus::Circulated { seq: 1 }, ReportStatus::Refused { reason: "r".into() }];
    let status_name = |s: &ReportStatus| match s {
        ReportStatus::Pending => "Pending",
        ReportStatus::Circulated { .. } => "Circulated { seq: u64 }",
        ReportStatus::Refused { .. } => "Refused { reason: String }",
    };
    assert_eq!(spec_table_after("| Index | `ReportStatus` | Meaning |"), variant_indices(&statuses, status_name));

    // Exhaustive: a kind appended later fails to compile here until the
    // SPEC lists it.
    let contents = [
        PublicationContent::CirculatedReport(measures_report(&world)),
        PublicationContent::MeetingNotice(meeting_notice()),
        PublicationContent::MeetingRecommendations(veim_protocol::meeting::Recommendations {
            notice: 2,
            text: "t".into(),
            items: vec![],
        }),
        {
            let SpecReport { signed, registration, .. } = spec_report(&world);
            PublicationContent::CspReport(Box::new(veim_protocol::publication::RegisteredReport {
                report: signed,
                registration,
            }))
        },
    ];
    let content_name = |c: &PublicationContent| match c {
        PublicationContent::CirculatedReport(_) => "CirculatedReport",
        PublicationContent::MeetingNotice(_) => "MeetingNotice",
        PublicationContent::MeetingRecommendations(_) => "MeetingRecommendations",
        PublicationContent::CspReport(_) => "CspReport",
    };
    assert_eq!(
        spec_table_after("| Index | `PublicationContent` | Content |"),
        variant_indices(&contents, content_name)
    );

    assert_eq!(spec_rows_after("| Index | `Language` | Code |"), unit_variants_named(|l: &Language| l.as_str()));
    let venues = [Venue::InPerson("p".into()), Venue::Online("o".into())];
    let venue_name = |v: &Venue| match v {
        Venue::InPerson(_) => "InPerson(String)",
        Venue::Online(_) => "Online(String)",
    };
    assert_eq!(spec_table_after("| Index | `Venue` | Meaning |"), variant_indices(&venues, venue_name));
}

#[test]
fn the_spec_publications_verify_and_every_check_is_named() {
    let world = World::build();
    let (report, _, body) = signed_vector("report", "body", "signed measures report", &measures_report(&world));
    report.verify(&world.mex.public()).expect("MEX's signature");
    assert!(world.mex.public().verify(domain::REPORT_SIGNATURE, &body, &report.signature).is_ok());
    assert!(report.verify(&world.swe.public()).is_err(), "not SWE's");
    report.report.validate(REPORT_SIGNED_AT).expect("valid when signed");

    let [first, second] = publications(&world);
    let key = world.secretariat_new.public();
    let header = spec_bytes("publication-1.header");
    assert_eq!(enc("publication header", &first.header), header);
    assert!(key.verify(domain::PUBLICATION_SIGNATURE, &header, &first.signature).is_ok());
    first.check_successor(None, &key, Some(state("SWE"))).expect("publication 1");
    first.check_report(|s| (s == state("MEX")).then(|| world.mex.public())).expect("MEX's report");
    let bytes = spec_bytes("publication-2.bytes");
    let decoded: SignedPublication = codec::decode::<_, MAX_FRAME>("publication", &bytes).expect("decode");
    assert_eq!(decoded, second);
    decoded.check_successor(Some(&first.header), &key, Some(state("MEX"))).expect("publication 2");
    // SWE is not in publication 2's audience: it is served the header alone.
    decoded.withheld().check_successor(Some(&first.header), &key, Some(state("SWE"))).expect("withheld");
    assert_eq!(
        decoded.withheld().check_successor(Some(&first.header), &key, Some(state("MEX"))),
        Err(PublicationError::Withheld { seq: 2, state: state("MEX") })
    );
    // Signed by the key of before the handover: refused.
    assert!(matches!(
        decoded.check_successor(Some(&first.header), &world.secretariat.public(), Some(state("MEX"))),
        Err(PublicationError::WrongSigner { seq: 2, .. })
    ));
    // One byte of the notice changed: its hash no longer matches.
    let mut altered = decoded.clone();
    if let Some(PublicationContent::MeetingNotice(n)) = &mut altered.content {
        n.venue = Venue::InPerson("Genova".into());
    }
    assert_eq!(
        altered.check_successor(Some(&first.header), &key, Some(state("MEX"))),
        Err(PublicationError::ContentMismatch { seq: 2 })
    );

    let (registration, _, _) =
        signed_vector("meeting-registration", "body", "signed meeting registration", &meeting_registration(&world));
    registration.verify(&world.mex.public()).expect("MEX's signature");
    assert!(registration.verify(&world.swe.public()).is_err());
    let notice = meeting_notice();
    let contacts = &world.contacts.set;
    registration.registration.check(2, &notice, Some(contacts), MEETING_REGISTERED_AT).expect("MEX's own contact");
    let mut other = registration.registration.clone();
    other.participants[0].email = "someone@else.example.se".into();
    assert!(matches!(
        other.check(2, &notice, Some(contacts), MEETING_REGISTERED_AT),
        Err(MeetingError::NotOwnContact { .. })
    ));
}
