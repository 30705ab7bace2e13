//! The envelope: one signed, end-to-end encrypted message to one or several
//! States.
//!
//! Construction (SPEC.md gives it byte by byte): a fresh 256-bit content key
//! encrypts the body with ChaCha20-Poly1305, the encoded header bound as
//! associated data; the content key is wrapped for each recipient with HPKE
//! (RFC 9180, base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
//! ChaCha20-Poly1305); the sender's Ed25519 key signs everything else. A
//! recipient learns nothing it can use to read another recipient's share, and
//! a relay or a store learns nothing but the header.
//!
//! ChaCha20-Poly1305 does not commit to its key: one ciphertext can open under
//! two keys to two bodies. So the signed header carries a hash of the content
//! key, and a recipient refuses a share whose key does not match it: every
//! recipient provably opens the same body, whatever the sender wrapped for
//! each. (Version 1 envelopes had no such hash; they are still read back from
//! stores, never accepted from the network.)

use crate::PROTOCOL_VERSION;
use crate::body::{Body, MessageKind};
use crate::codec::{self, CodecError, MAX_BODY};
use crate::fixed::Bytes32;
use crate::ids::{ExchangeId, MessageId};
use crate::keys::{EncryptionKeypair, IdentityKeypair, PublicIdentity, domain, domain_separated, hash};
use crate::state::StateCode;
use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use rand_core::CryptoRng;
use serde::de::{Error as _, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type HpkeAead = hpke::aead::ChaCha20Poly1305;

/// The first envelope version whose header commits to the content key.
pub const COMMITTING_VERSION: u16 = 2;

/// Everything about a message that is not secret: who, to whom, when, which
/// exchange, what kind, and a commitment to the content key. Bound into the
/// body encryption and every key share.
///
/// Its encoding depends on `version`: `content_commitment` is on the wire
/// (last) from version 2 on, and absent in version 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub version: u16,
    pub message_id: MessageId,
    pub exchange_id: ExchangeId,
    pub sender: StateCode,
    /// The sender's identity key; the receiver checks it against the directory.
    pub sender_key: PublicIdentity,
    pub recipients: Vec<StateCode>,
    /// Unix time in seconds, UTC, as the sender's clock read it.
    pub created_at: i64,
    pub kind: MessageKind,
    /// `hash(CONTENT_KEY_COMMITMENT, content key)`; `None` only in a version 1
    /// header.
    pub content_commitment: Option<Bytes32>,
}

/// The commitment a version 2 header carries for `content_key`.
pub fn content_commitment(content_key: &[u8; 32]) -> Bytes32 {
    Bytes32(hash(domain::CONTENT_KEY_COMMITMENT, content_key))
}

const HEADER_FIELDS: [&str; 9] = [
    "version",
    "message_id",
    "exchange_id",
    "sender",
    "sender_key",
    "recipients",
    "created_at",
    "kind",
    "content_commitment",
];

impl Serialize for Header {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fields = if self.version >= COMMITTING_VERSION { 9 } else { 8 };
        let mut st = s.serialize_struct("Header", fields)?;
        st.serialize_field("version", &self.version)?;
        st.serialize_field("message_id", &self.message_id)?;
        st.serialize_field("exchange_id", &self.exchange_id)?;
        st.serialize_field("sender", &self.sender)?;
        st.serialize_field("sender_key", &self.sender_key)?;
        st.serialize_field("recipients", &self.recipients)?;
        st.serialize_field("created_at", &self.created_at)?;
        st.serialize_field("kind", &self.kind)?;
        if self.version >= COMMITTING_VERSION {
            // A header of version 2 or later always has one; an absent one is
            // written as zeros, which no content key hashes to.
            st.serialize_field("content_commitment", &self.content_commitment.unwrap_or(Bytes32([0; 32])))?;
        }
        st.end()
    }
}

impl<'de> Deserialize<'de> for Header {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Header, D::Error> {
        d.deserialize_struct("Header", &HEADER_FIELDS, HeaderVisitor)
    }
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Header;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an envelope header")
    }

    /// The wire form: the fields in order, the commitment only from version 2.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Header, A::Error> {
        fn next<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(seq: &mut A, i: usize) -> Result<T, A::Error> {
            seq.next_element()?.ok_or_else(|| A::Error::invalid_length(i, &"an envelope header"))
        }
        let version: u16 = next(&mut seq, 0)?;
        Ok(Header {
            version,
            message_id: next(&mut seq, 1)?,
            exchange_id: next(&mut seq, 2)?,
            sender: next(&mut seq, 3)?,
            sender_key: next(&mut seq, 4)?,
            recipients: next(&mut seq, 5)?,
            created_at: next(&mut seq, 6)?,
            kind: next(&mut seq, 7)?,
            content_commitment: if version >= COMMITTING_VERSION { Some(next(&mut seq, 8)?) } else { None },
        })
    }

    /// The readable form (JSON): the same fields by name.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
        #[derive(Default)]
        struct Fields {
            version: Option<u16>,
            message_id: Option<MessageId>,
            exchange_id: Option<ExchangeId>,
            sender: Option<StateCode>,
            sender_key: Option<PublicIdentity>,
            recipients: Option<Vec<StateCode>>,
            created_at: Option<i64>,
            kind: Option<MessageKind>,
            content_commitment: Option<Bytes32>,
        }
        let mut f = Fields::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "version" => f.version = Some(map.next_value()?),
                "message_id" => f.message_id = Some(map.next_value()?),
                "exchange_id" => f.exchange_id = Some(map.next_value()?),
                "sender" => f.sender = Some(map.next_value()?),
                "sender_key" => f.sender_key = Some(map.next_value()?),
                "recipients" => f.recipients = Some(map.next_value()?),
                "created_at" => f.created_at = Some(map.next_value()?),
                "kind" => f.kind = Some(map.next_value()?),
                "content_commitment" => f.content_commitment = Some(map.next_value()?),
                other => return Err(A::Error::unknown_field(other, &HEADER_FIELDS)),
            }
        }
        fn need<T, E: serde::de::Error>(v: Option<T>, name: &'static str) -> Result<T, E> {
            v.ok_or_else(|| E::missing_field(name))
        }
        let version = need(f.version, "version")?;
        if version >= COMMITTING_VERSION && f.content_commitment.is_none() {
            return Err(A::Error::missing_field("content_commitment"));
        }
        Ok(Header {
            version,
            message_id: need(f.message_id, "message_id")?,
            exchange_id: need(f.exchange_id, "exchange_id")?,
            sender: need(f.sender, "sender")?,
            sender_key: need(f.sender_key, "sender_key")?,
            recipients: need(f.recipients, "recipients")?,
            created_at: need(f.created_at, "created_at")?,
            kind: need(f.kind, "kind")?,
            content_commitment: if version >= COMMITTING_VERSION { f.content_commitment } else { None },
        })
    }
}

/// The content key wrapped for one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyShare {
    pub recipient: StateCode,
    /// HPKE encapsulated key (the sender's ephemeral X25519 public key).
    pub enc: [u8; 32],
    /// HPKE ciphertext of the 32-byte content key, with its 16-byte tag.
    #[serde(with = "crate::fixed")]
    pub wrapped_key: [u8; 48],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub header: Header,
    /// One share per recipient, in the order of `header.recipients`, then
    /// one for the sender itself (under its own encryption key), so that a
    /// sender that lost its copy (restored from an older backup) can open
    /// the envelope a recipient gives back.
    pub key_shares: Vec<KeyShare>,
    pub nonce: [u8; 12],
    /// Bytes as one run (the same encoding as a sequence of `u8`, decoded at once).
    #[serde(with = "serde_bytes")]
    pub ciphertext: Vec<u8>,
    /// Ed25519 over `"veim/1 envelope signature" || 0x00 || encode(header,
    /// key_shares, nonce, ciphertext)`.
    #[serde(with = "crate::fixed")]
    pub signature: [u8; 64],
}

/// Why an envelope was refused. Each names what is wrong; the node turns them
/// into refusals that travel back to the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    #[error("envelope version {0} is not supported (this node speaks version {PROTOCOL_VERSION})")]
    UnsupportedVersion(u16),
    #[error("the envelope has no recipients")]
    NoRecipients,
    #[error("recipient {0} is listed twice")]
    DuplicateRecipient(StateCode),
    #[error("the sender {0} cannot be one of its own recipients")]
    SenderIsRecipient(StateCode),
    #[error("the key shares do not match the recipient list and the sender")]
    KeySharesMismatch,
    #[error(
        "the envelope's signature does not verify under the sender's key: it was altered or not signed by the sender"
    )]
    BadSignature,
    #[error("this envelope is addressed to {recipients}, not to {me}")]
    NotARecipient { me: StateCode, recipients: String },
    #[error("the content key for {0} cannot be unwrapped: the key share was altered or made for another key")]
    KeyUnwrap(StateCode),
    #[error(
        "the content key wrapped for {0} is not the one the signed header commits to: the sender gave recipients different keys"
    )]
    KeyCommitment(StateCode),
    #[error("message id {id} does not begin with the code of its sender {sender}: a State may only use ids it made")]
    ForeignMessageId { id: MessageId, sender: StateCode },
    #[error("the body does not decrypt: the ciphertext or the header was altered")]
    BodyDecrypt,
    #[error("the decrypted body is not valid: {0}")]
    Body(#[from] CodecError),
    #[error("the header says {header} but the body is a {body}")]
    KindMismatch { header: MessageKind, body: MessageKind },
    #[error("{}", outside_window(*created_at, *now, *window_secs))]
    OutsideWindow { created_at: i64, now: i64, window_secs: i64 },
    #[error("a recipient's encryption key is not a valid X25519 public key: {0}")]
    BadRecipientKey(StateCode),
    #[error("sealing failed: {0}")]
    Seal(String),
}

/// Unix seconds as a UTC time people read.
fn utc(t: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| format!("{t} (Unix seconds)"))
}

/// Why an envelope's time is refused, with both clocks' times: ahead of the
/// receiver's clock, one of the two clocks is wrong; behind it, either that
/// or the message waited longer than the receiver accepts. `created_at`
/// comes from the sender: the distance is taken without overflow.
fn outside_window(created_at: i64, now: i64, window_secs: i64) -> String {
    let how_far = created_at.abs_diff(now);
    if created_at > now {
        format!(
            "the envelope was created at {} by the sender's clock, {how_far} s ahead of the receiver's clock ({}); at \
             most {window_secs} s ahead is accepted: check the clocks of both nodes (each must follow NTP)",
            utc(created_at),
            utc(now)
        )
    } else {
        format!(
            "the envelope was created at {} by the sender's clock, {how_far} s before the receiver's clock ({}); \
             messages older than {window_secs} s are refused: it waited that long in the sender's outbox, or one of \
             the clocks is wrong: check the clocks of both nodes (each must follow NTP)",
            utc(created_at),
            utc(now)
        )
    }
}

/// A recipient as the sender sees it: its State code and its X25519 key from
/// the directory.
#[derive(Debug, Clone, Copy)]
pub struct Recipient {
    pub state: StateCode,
    pub encryption_key: [u8; 32],
}

/// The parts of a message the sender chooses; `seal` adds the rest.
#[derive(Debug, Clone)]
pub struct Draft<'a> {
    pub message_id: MessageId,
    pub exchange_id: ExchangeId,
    pub sender: StateCode,
    pub recipients: &'a [Recipient],
    /// The sender's own X25519 public key: the content key is wrapped for
    /// it too.
    pub sender_encryption_key: [u8; 32],
    pub created_at: i64,
    pub body: &'a Body,
}

fn hpke_info(recipient: StateCode) -> Vec<u8> {
    domain_separated(domain::CONTENT_KEY, recipient.as_bytes())
}

fn body_aad(header_bytes: &[u8]) -> Vec<u8> {
    domain_separated(domain::ENVELOPE_BODY, header_bytes)
}

impl Header {
    /// The fields an item statement binds.
    pub fn context(&self) -> crate::response::MessageContext {
        crate::response::MessageContext {
            message_id: self.message_id,
            exchange_id: self.exchange_id,
            sender: self.sender,
            recipients: self.recipients.clone(),
            created_at: self.created_at,
        }
    }

    fn check_recipients(&self) -> Result<(), EnvelopeError> {
        if self.recipients.is_empty() {
            return Err(EnvelopeError::NoRecipients);
        }
        for (i, r) in self.recipients.iter().enumerate() {
            if self.recipients[..i].contains(r) {
                return Err(EnvelopeError::DuplicateRecipient(*r));
            }
            if *r == self.sender {
                return Err(EnvelopeError::SenderIsRecipient(*r));
            }
        }
        Ok(())
    }
}

impl Envelope {
    /// Encrypts and signs a body for its recipients. Randomness (content key,
    /// nonce, HPKE ephemeral keys) comes from `rng`, so tests can fix it.
    pub fn seal<R: CryptoRng + ?Sized>(
        draft: &Draft<'_>,
        sender_key: &IdentityKeypair,
        rng: &mut R,
    ) -> Result<Envelope, EnvelopeError> {
        if !draft.message_id.is_issued_by(draft.sender) {
            return Err(EnvelopeError::ForeignMessageId { id: draft.message_id, sender: draft.sender });
        }
        let mut content_key = zeroize::Zeroizing::new([0u8; 32]);
        rng.fill_bytes(content_key.as_mut());
        let mut nonce = [0u8; 12];
        rng.fill_bytes(&mut nonce);
        let header = Header {
            version: PROTOCOL_VERSION,
            message_id: draft.message_id,
            exchange_id: draft.exchange_id,
            sender: draft.sender,
            sender_key: sender_key.public(),
            recipients: draft.recipients.iter().map(|r| r.state).collect(),
            created_at: draft.created_at,
            kind: draft.body.kind(),
            content_commitment: Some(content_commitment(&content_key)),
        };
        header.check_recipients()?;
        let header_bytes = encode_or_seal_error("header", &header)?;

        let mut key_shares = Vec::with_capacity(draft.recipients.len() + 1);
        let own = Recipient { state: draft.sender, encryption_key: draft.sender_encryption_key };
        for r in draft.recipients.iter().chain(std::iter::once(&own)) {
            let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(&r.encryption_key)
                .map_err(|_| EnvelopeError::BadRecipientKey(r.state))?;
            let (enc, wrapped) = hpke::single_shot_seal_with_rng::<HpkeAead, Kdf, Kem>(
                &OpModeS::Base,
                &pk,
                &hpke_info(r.state),
                content_key.as_ref(),
                &header_bytes,
                &mut RngRef(rng),
            )
            .map_err(|e| EnvelopeError::Seal(e.to_string()))?;
            let enc: [u8; 32] = enc
                .to_bytes()
                .as_slice()
                .try_into()
                .map_err(|_| EnvelopeError::Seal("HPKE enc is not 32 bytes".into()))?;
            let wrapped_key: [u8; 48] =
                wrapped.as_slice().try_into().map_err(|_| EnvelopeError::Seal("wrapped key is not 48 bytes".into()))?;
            key_shares.push(KeyShare { recipient: r.state, enc, wrapped_key });
        }

        let plaintext = encode_or_seal_error("body", draft.body)?;
        let cipher = ChaCha20Poly1305::new(&(*content_key).into());
        let ciphertext = cipher
            .encrypt(&nonce.into(), Payload { msg: &plaintext, aad: &body_aad(&header_bytes) })
            .map_err(|_| EnvelopeError::Seal("body encryption failed".into()))?;

        let mut envelope = Envelope { header, key_shares, nonce, ciphertext, signature: [0; 64] };
        let signed = envelope.signed_bytes().map_err(|e| EnvelopeError::Seal(e.to_string()))?;
        envelope.signature = sender_key.sign(domain::ENVELOPE_SIGNATURE, &signed);
        Ok(envelope)
    }

    /// The bytes the signature covers (without the domain prefix).
    pub fn signed_bytes(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode("envelope", &(&self.header, &self.key_shares, &self.nonce, &self.ciphertext))
    }

    /// SHA-256 of the whole encoded envelope, signature included: what a
    /// receipt acknowledges.
    pub fn hash(&self) -> Result<[u8; 32], CodecError> {
        Ok(hash(domain::ENVELOPE_HASH, &codec::encode("envelope", self)?))
    }

    /// Checks the structure and the signature under `sender_key`, the key the
    /// directory lists for `header.sender`. Does not decrypt.
    pub fn verify(&self, sender_key: &PublicIdentity) -> Result<(), EnvelopeError> {
        if self.header.version != PROTOCOL_VERSION {
            return Err(EnvelopeError::UnsupportedVersion(self.header.version));
        }
        self.header.check_recipients()?;
        if !self.header.message_id.is_issued_by(self.header.sender) {
            return Err(EnvelopeError::ForeignMessageId { id: self.header.message_id, sender: self.header.sender });
        }
        let shares_match = self.key_shares.len() == self.header.recipients.len() + 1
            && self.key_shares.iter().zip(&self.header.recipients).all(|(s, r)| s.recipient == *r)
            && self.key_shares.last().is_some_and(|s| s.recipient == self.header.sender);
        if !shares_match {
            return Err(EnvelopeError::KeySharesMismatch);
        }
        if self.header.sender_key != *sender_key {
            return Err(EnvelopeError::BadSignature);
        }
        let signed = self.signed_bytes()?;
        sender_key.verify(domain::ENVELOPE_SIGNATURE, &signed, &self.signature).map_err(|_| EnvelopeError::BadSignature)
    }

    /// Checks `created_at` against the receiver's clock: at most
    /// `future_secs` ahead of it (clock skew), at most `past_secs` behind it
    /// (the longest a sender keeps retrying a message).
    pub fn check_window(&self, now: i64, future_secs: i64, past_secs: i64) -> Result<(), EnvelopeError> {
        let created_at = self.header.created_at;
        if created_at > now.saturating_add(future_secs) {
            return Err(EnvelopeError::OutsideWindow { created_at, now, window_secs: future_secs });
        }
        if created_at < now.saturating_sub(past_secs) {
            return Err(EnvelopeError::OutsideWindow { created_at, now, window_secs: past_secs });
        }
        Ok(())
    }

    /// Decrypts the body for recipient `me`. Call [`Envelope::verify`] first:
    /// `open` proves confidentiality and integrity of the body, not who sent it.
    pub fn open(&self, me: StateCode, key: &EncryptionKeypair) -> Result<Body, EnvelopeError> {
        let share = self.key_shares.iter().find(|s| s.recipient == me).ok_or_else(|| EnvelopeError::NotARecipient {
            me,
            recipients: self.header.recipients.iter().map(StateCode::as_str).collect::<Vec<_>>().join(", "),
        })?;
        let header_bytes = codec::encode("header", &self.header)?;
        let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(&key.secret_bytes())
            .map_err(|_| EnvelopeError::KeyUnwrap(me))?;
        let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&share.enc).map_err(|_| EnvelopeError::KeyUnwrap(me))?;
        let content_key = hpke::single_shot_open::<HpkeAead, Kdf, Kem>(
            &OpModeR::Base,
            &sk,
            &enc,
            &hpke_info(me),
            &share.wrapped_key,
            &header_bytes,
        )
        .map_err(|_| EnvelopeError::KeyUnwrap(me))?;
        let content_key = zeroize::Zeroizing::new(content_key);
        let key_bytes: &[u8; 32] = content_key.as_slice().try_into().map_err(|_| EnvelopeError::KeyUnwrap(me))?;
        // Version 2 on, the key must be the one the signed header names (a
        // version 1 header, read back from a store, names none).
        match self.header.content_commitment {
            Some(c) if c != content_commitment(key_bytes) => return Err(EnvelopeError::KeyCommitment(me)),
            None if self.header.version >= COMMITTING_VERSION => return Err(EnvelopeError::KeyCommitment(me)),
            _ => {}
        }
        let cipher = ChaCha20Poly1305::new(&(*key_bytes).into());
        let plaintext = cipher
            .decrypt(&self.nonce.into(), Payload { msg: &self.ciphertext, aad: &body_aad(&header_bytes) })
            .map_err(|_| EnvelopeError::BodyDecrypt)?;
        let body: Body = codec::decode::<Body, MAX_BODY>("message body", &plaintext)?;
        if body.kind() != self.header.kind {
            return Err(EnvelopeError::KindMismatch { header: self.header.kind, body: body.kind() });
        }
        Ok(body)
    }
}

fn encode_or_seal_error<T: Serialize + ?Sized>(what: &'static str, value: &T) -> Result<Vec<u8>, EnvelopeError> {
    codec::encode(what, &value).map_err(|e| EnvelopeError::Seal(e.to_string()))
}

/// Lets a `?Sized` RNG be passed where `impl CryptoRng` (Sized) is wanted.
struct RngRef<'a, R: ?Sized>(&'a mut R);

impl<R: CryptoRng + ?Sized> rand_core::TryRng for RngRef<'_, R> {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.0.next_u32())
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.0.next_u64())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill_bytes(dst);
        Ok(())
    }
}

impl<R: CryptoRng + ?Sized> rand_core::TryCryptoRng for RngRef<'_, R> {}

#[cfg(test)]
mod tests {
    use super::outside_window;

    #[test]
    fn a_refusal_for_time_names_both_times_and_survives_any_time_a_sender_writes() {
        let ahead = outside_window(1_800_000_600, 1_800_000_000, 300);
        assert!(ahead.contains("600 s ahead") && ahead.contains("check the clocks"), "{ahead}");
        let old = outside_window(1_800_000_000, 1_800_000_000 + 40 * 86_400, 30 * 86_400);
        assert!(old.contains("waited that long in the sender's outbox"), "{old}");
        assert_eq!(old.matches(" UTC").count(), 2, "{old}");
        // The sender's time is anything it likes: no overflow, no panic.
        for created_at in [i64::MIN, i64::MAX] {
            let said = outside_window(created_at, 1_800_000_000, 3600);
            assert!(said.contains("(Unix seconds)"), "{said}");
        }
    }
}
