//! Reports to the CSP: the drafts a national node drafts or co-authors
//! (`csp-reports`, by report id), and the Secretariat's register
//! (`csp-register`, by register number).

use super::*;
use sled::Transactional;
use veim_protocol::ids::ReportId;

impl Store {
    /// Stores a report's record, with the audit entry of the change.
    pub fn put_csp_report(&self, record: &CspReportRecord, event: &Event) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        let key = record.signed.draft.report_id.0;
        let bytes = enc("csp report", record)?;
        (&self.csp_reports, &self.audit, &self.meta)
            .transaction(|(reports, audit, meta)| {
                reports.insert(&key, bytes.as_slice())?;
                append(audit, meta, event)?;
                Ok(())
            })
            .map_err(tx_err)
    }

    /// Stores a report's record where nothing the audit log records
    /// changed (where its draft reached).
    pub fn update_csp_report(&self, record: &CspReportRecord) -> Result<(), StoreError> {
        let _writing = self.writing()?;
        self.csp_reports.insert(record.signed.draft.report_id.0, enc("csp report", record)?)?;
        Ok(())
    }

    pub fn csp_report(&self, id: ReportId) -> Result<Option<CspReportRecord>, StoreError> {
        self.csp_reports.get(id.0)?.map(|b| dec("csp report", &b)).transpose()
    }

    pub fn csp_reports(&self) -> Result<Vec<CspReportRecord>, StoreError> {
        self.csp_reports.iter().map(|kv| dec("csp report", &kv?.1)).collect()
    }

    /// Adds a report to the register under the next number, which `make`
    /// is given to build the registration with; `event` is the audit entry
    /// (its `detail` gets the number). Callers register one at a time.
    pub fn register_csp_report(
        &self,
        make: impl FnOnce(u64) -> Result<RegisteredCspReport, StoreError>,
        mut event: Event,
    ) -> Result<RegisteredCspReport, StoreError> {
        let _writing = self.writing()?;
        let number = match self.csp_register.last()? {
            Some((k, _)) => {
                u64::from_be_bytes(k.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    what: "csp register",
                    reason: "a key is not a number".into(),
                })?) + 1
            }
            None => 1,
        };
        let record = make(number)?;
        let bytes = enc("registered csp report", &record)?;
        event.detail = format!("register number {number}");
        (&self.csp_register, &self.audit, &self.meta)
            .transaction(|(register, audit, meta)| {
                register.insert(&number.to_be_bytes(), bytes.as_slice())?;
                append(audit, meta, &event)?;
                Ok(())
            })
            .map_err(tx_err)?;
        Ok(record)
    }

    /// The register, by number.
    pub fn csp_register(&self) -> Result<Vec<RegisteredCspReport>, StoreError> {
        self.csp_register.iter().map(|kv| dec("registered csp report", &kv?.1)).collect()
    }
}
