//! The Secretariat's publication log (every node holds it, as it was served
//! to it), reports of measures (a State's own, or those the Secretariat
//! received), and meeting registrations (by notice, then State). Each change
//! is written with its audit entry in one transaction.

use super::*;
use sled::Transactional;
use veim_protocol::meeting::SignedMeetingRegistration;
use veim_protocol::publication::{PublicationHeader, ReportId, SignedMeasuresReport, SignedPublication};

/// Where a report of measures stands, as the node that holds it knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReportState {
    /// National node: signed and kept, not yet delivered to the Secretariat.
    Kept,
    /// Waiting for the Secretariat's review.
    Pending,
    /// Circulated as publication `seq`.
    Circulated { seq: u64 },
    /// Refused by the Secretariat's operator.
    Refused { reason: String },
}

/// A report of measures and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ReportRecord {
    pub id: ReportId,
    pub report: SignedMeasuresReport,
    pub status: ReportState,
    /// When the status last changed, Unix seconds.
    pub updated_at: i64,
}

fn notice_key(notice: u64, state: veim_protocol::StateCode) -> Vec<u8> {
    [notice.to_be_bytes().as_slice(), state.as_bytes()].concat()
}

impl Store {
    // --- the publication log ------------------------------------------

    /// Keeps a publication and, if given, the report it circulates, with
    /// the audit entry, in one step.
    pub fn put_publication(
        &self,
        publication: &SignedPublication,
        report: Option<&ReportRecord>,
        event: &Event,
    ) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        let bytes = enc("publication", publication)?;
        let report = report.map(|r| Ok::<_, StoreError>((r.id.0, enc("report", r)?))).transpose()?;
        (&self.publications, &self.reports, &self.meta, &self.audit)
            .transaction(|(publications, reports, meta, audit)| {
                publications.insert(&publication.header.seq.to_be_bytes(), bytes.as_slice())?;
                if let Some((id, r)) = &report {
                    reports.insert(id.as_slice(), r.as_slice())?;
                }
                append(audit, meta, event)?;
                Ok(())
            })
            .map_err(tx_err)
    }

    pub fn publication(&self, seq: u64) -> Result<Option<SignedPublication>, StoreError> {
        self.publications.get(seq.to_be_bytes())?.map(|b| dec("publication", &b)).transpose()
    }

    /// The header of the last publication held.
    pub fn publication_head(&self) -> Result<Option<PublicationHeader>, StoreError> {
        match self.publications.iter().next_back() {
            Some(kv) => Ok(Some(dec::<SignedPublication>("publication", &kv?.1)?.header)),
            None => Ok(None),
        }
    }

    pub fn publications_after(&self, after: u64, max: usize) -> Result<Vec<SignedPublication>, StoreError> {
        self.publications
            .range(after.saturating_add(1).to_be_bytes()..)
            .take(max)
            .map(|kv| dec("publication", &kv?.1))
            .collect()
    }

    // --- reports of measures --------------------------------------------

    /// Keeps a report's record, with the audit entry if one is given.
    pub fn put_report(&self, record: &ReportRecord, event: Option<&Event>) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        let bytes = enc("report", record)?;
        (&self.reports, &self.meta, &self.audit)
            .transaction(|(reports, meta, audit)| {
                reports.insert(record.id.0.as_slice(), bytes.as_slice())?;
                if let Some(event) = event {
                    append(audit, meta, event)?;
                }
                Ok(())
            })
            .map_err(tx_err)
    }

    pub fn report(&self, id: &ReportId) -> Result<Option<ReportRecord>, StoreError> {
        self.reports.get(id.0)?.map(|b| dec("report", &b)).transpose()
    }

    /// Every report held, oldest first.
    pub fn reports(&self) -> Result<Vec<ReportRecord>, StoreError> {
        let mut all: Vec<ReportRecord> =
            self.reports.iter().map(|kv| dec("report", &kv?.1)).collect::<Result<_, StoreError>>()?;
        all.sort_by_key(|r| (r.report.report.signed_at, r.id));
        Ok(all)
    }

    // --- meeting registrations -----------------------------------------

    /// Keeps a State's registration for a meeting, in place of its earlier one.
    pub fn put_meeting_registration(
        &self,
        notice: u64,
        registration: &SignedMeetingRegistration,
        event: &Event,
    ) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        let key = notice_key(notice, registration.registration.state);
        let bytes = enc("meeting registration", registration)?;
        (&self.meeting, &self.meta, &self.audit)
            .transaction(|(meeting, meta, audit)| {
                meeting.insert(key.as_slice(), bytes.as_slice())?;
                append(audit, meta, event)?;
                Ok(())
            })
            .map_err(tx_err)
    }

    /// The registrations for the meeting of notice `notice`, by State code.
    pub fn meeting_registrations(&self, notice: u64) -> Result<Vec<SignedMeetingRegistration>, StoreError> {
        self.meeting.scan_prefix(notice.to_be_bytes()).map(|kv| dec("meeting registration", &kv?.1)).collect()
    }
}
