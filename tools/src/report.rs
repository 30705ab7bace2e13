//! Reports to the CSP read from files, with no node: verified offline
//! (`veim report verify`), and rendered as a self-contained, print-ready
//! HTML page in English, French or Spanish (`veim report html`).
//!
//! The page's labels come from the Fluent files `tools/locales/*.ftl`,
//! compiled into the binary; every value of the report is HTML-escaped (its
//! text comes from other States).

use fluent_bundle::{FluentArgs, FluentBundle, FluentResource};
use std::fmt::Write as _;
use std::path::Path;
use veim_protocol::keys::PublicIdentity;
use veim_protocol::report::{Language, ReportFile, VerifiedReport};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportFileError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path} is not a report to the CSP: {reason}")]
    NotAReport { path: String, reason: String },
    #[error("--secretariat-key: {0}")]
    Key(String),
    #[error("the report {path} does NOT verify: {reason}")]
    Failed { path: String, reason: String },
    #[error("the labels for {lang} are missing {missing:?}")]
    Labels { lang: Language, missing: Vec<String> },
}

/// Largest report file read.
const MAX_FILE: u64 = 16 * 1024 * 1024;

/// Reads a report file.
pub fn read_file(path: &Path) -> Result<ReportFile, ReportFileError> {
    let shown = path.display().to_string();
    let bytes = crate::terms::read_at_most(path, MAX_FILE, "a report file")
        .map_err(|reason| ReportFileError::Read { path: shown.clone(), reason })?;
    serde_json::from_slice(&bytes).map_err(|e| ReportFileError::NotAReport { path: shown, reason: e.to_string() })
}

/// Reads and verifies a report file; `secretariat_key` (hex) pins the key
/// its registration must be signed with.
pub fn verify_file(path: &Path, secretariat_key: Option<&str>) -> Result<VerifiedReport, ReportFileError> {
    let file = read_file(path)?;
    let pinned =
        secretariat_key.map(PublicIdentity::from_hex).transpose().map_err(|e| ReportFileError::Key(e.to_string()))?;
    file.verify(pinned.as_ref())
        .map_err(|e| ReportFileError::Failed { path: path.display().to_string(), reason: e.to_string() })
}

/// The Fluent source of each language's labels.
pub fn labels_source(lang: Language) -> &'static str {
    match lang {
        Language::En => include_str!("../locales/en.ftl"),
        Language::Fr => include_str!("../locales/fr.ftl"),
        Language::Es => include_str!("../locales/es.ftl"),
    }
}

/// The labels of one language.
pub struct Labels {
    lang: Language,
    bundle: FluentBundle<FluentResource>,
}

impl std::fmt::Debug for Labels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Labels({})", self.lang)
    }
}

/// Every label key the page uses; each language's file must give them all.
pub const PAGE_KEYS: &[&str] = &[
    "page-heading",
    "label-report-id",
    "label-revision",
    "label-period",
    "label-period-value",
    "label-authors",
    "label-drafter",
    "label-language",
    "label-drafted-at",
    "lang-en",
    "lang-fr",
    "lang-es",
    "note-original",
    "section-figures",
    "label-exchanges",
    "label-answered",
    "label-response-median",
    "label-response-max",
    "section-by-provision",
    "section-by-stage",
    "section-by-outcome",
    "section-counterparts",
    "column-item",
    "column-count",
    "provision",
    "stage-risk-analysis",
    "stage-diversion-detected",
    "stage-reached-end-user",
    "stage-other",
    "outcome-diversion-confirmed",
    "outcome-diversion-prevented",
    "outcome-risk-mitigated",
    "outcome-not-confirmed",
    "outcome-inconclusive",
    "outcome-other",
    "none",
    "section-text",
    "section-signatures",
    "label-signed-by",
    "label-draft-hash",
    "label-registered",
    "label-secretariat-key",
    "label-not-registered",
    "footer-verify",
];

/// The message keys a Fluent source defines.
pub fn keys_of(source: &str) -> Vec<String> {
    source
        .lines()
        .filter(|l| !l.starts_with([' ', '\t', '#', '.']))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_string()))
        .filter(|k| !k.is_empty())
        .collect()
}

impl Labels {
    /// The labels of `lang`, from `source` (its `.ftl` text); every key of
    /// [`PAGE_KEYS`] must be there.
    pub fn from_source(lang: Language, source: &str) -> Result<Labels, ReportFileError> {
        let resource = FluentResource::try_new(source.to_string()).map_err(|(_, errors)| ReportFileError::Labels {
            lang,
            missing: errors.iter().map(|e| e.to_string()).collect(),
        })?;
        let id: unic_langid::LanguageIdentifier =
            lang.as_str().parse().map_err(|_| ReportFileError::Labels { lang, missing: vec![lang.to_string()] })?;
        let mut bundle = FluentBundle::new(vec![id]);
        // Plain text: no bidirectional isolation marks around the values.
        bundle.set_use_isolating(false);
        bundle.add_resource(resource).map_err(|errors| ReportFileError::Labels {
            lang,
            missing: errors.iter().map(|e| e.to_string()).collect(),
        })?;
        let missing: Vec<String> =
            PAGE_KEYS.iter().filter(|k| bundle.get_message(k).is_none()).map(|k| k.to_string()).collect();
        if !missing.is_empty() {
            return Err(ReportFileError::Labels { lang, missing });
        }
        Ok(Labels { lang, bundle })
    }

    pub fn of(lang: Language) -> Result<Labels, ReportFileError> {
        Labels::from_source(lang, labels_source(lang))
    }

    /// The label `key` with `args`, HTML-escaped. A key that does not
    /// resolve (checked for every page key when the labels are made) shows
    /// as itself.
    pub fn get(&self, key: &str, args: &[(&str, String)]) -> String {
        let mut fluent_args = FluentArgs::new();
        for (name, value) in args {
            fluent_args.set(*name, value.clone());
        }
        let mut errors = Vec::new();
        let text = match self.bundle.get_message(key).and_then(|m| m.value()) {
            Some(pattern) => self.bundle.format_pattern(pattern, Some(&fluent_args), &mut errors).into_owned(),
            None => key.to_string(),
        };
        escape(&text)
    }

    /// Whether `key` resolves, with the arguments the page gives it, without
    /// an error.
    pub fn resolves(&self, key: &str) -> bool {
        let Some(pattern) = self.bundle.get_message(key).and_then(|m| m.value()) else {
            return false;
        };
        let mut args = FluentArgs::new();
        for name in ["from", "to", "article", "state", "fingerprint", "number", "date"] {
            args.set(name, "x");
        }
        let mut errors = Vec::new();
        let text = self.bundle.format_pattern(pattern, Some(&args), &mut errors);
        errors.is_empty() && !text.trim().is_empty()
    }
}

/// HTML-escapes text for an element's content or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn date(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()),
        Err(_) => unix.to_string(),
    }
}

const STYLE: &str = "body{font-family:Georgia,'Times New Roman',serif;max-width:48rem;margin:2rem auto;padding:0 1rem;\
color:#111;line-height:1.45}h1{font-size:1.5rem;border-bottom:2px solid #333;padding-bottom:.4rem}\
h2{font-size:1.15rem;margin-top:1.8rem;border-bottom:1px solid #999}h3{font-size:1rem}\
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #bbb;padding:.3rem .5rem;\
text-align:left;vertical-align:top}td.n{text-align:right}dl{display:grid;grid-template-columns:max-content auto;\
gap:.2rem 1rem}dt{font-weight:bold}dd{margin:0}.mono{font-family:monospace;word-break:break-all}\
.text{white-space:pre-wrap}.note{font-style:italic;color:#444}footer{margin-top:2rem;font-size:.85rem;color:#444}\
@media print{body{margin:0;max-width:none;font-size:11pt}h2{page-break-after:avoid}table,tr{page-break-inside:avoid}\
footer{break-inside:avoid}a{color:inherit;text-decoration:none}}";

/// The page of a verified report, in `lang`.
pub fn html(file: &ReportFile, verified: &VerifiedReport, lang: Language) -> Result<String, ReportFileError> {
    let l = Labels::of(lang)?;
    let r = &file.report;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        lang.as_str(),
        escape(&r.title)
    );
    let _ = writeln!(out, "<header><p>{}</p><h1>{}</h1></header>", l.get("page-heading", &[]), escape(&r.title));
    let authors: Vec<String> = r.authors.iter().map(|s| escape(s.as_str())).collect();
    let lang_key = format!("lang-{}", r.language.as_str());
    let rows = [
        (l.get("label-authors", &[]), authors.join(", ")),
        (l.get("label-drafter", &[]), escape(r.drafter.as_str())),
        (
            l.get("label-period", &[]),
            l.get("label-period-value", &[("from", r.period.from.clone()), ("to", r.period.to.clone())]),
        ),
        (l.get("label-language", &[]), l.get(&lang_key, &[])),
        (l.get("label-drafted-at", &[]), escape(&date(r.drafted_at))),
        (l.get("label-revision", &[]), r.revision.to_string()),
        (l.get("label-report-id", &[]), format!("<span class=\"mono\">{}</span>", escape(&r.report_id.to_hex()))),
    ];
    out.push_str("<dl>\n");
    for (label, value) in rows {
        let _ = writeln!(out, "<dt>{label}</dt><dd>{value}</dd>");
    }
    out.push_str("</dl>\n");

    let f = &r.figures;
    let _ = writeln!(out, "<h2>{}</h2>", l.get("section-figures", &[]));
    let opt = |v: Option<u32>| v.map(|d| d.to_string()).unwrap_or_else(|| "—".into());
    out.push_str("<table>\n");
    for (label, value) in [
        (l.get("label-exchanges", &[]), f.exchanges.to_string()),
        (l.get("label-answered", &[]), f.answered.to_string()),
        (l.get("label-response-median", &[]), opt(f.response_days_median)),
        (l.get("label-response-max", &[]), opt(f.response_days_max)),
    ] {
        let _ = writeln!(out, "<tr><th>{label}</th><td class=\"n\">{value}</td></tr>");
    }
    out.push_str("</table>\n");
    let table = |out: &mut String, heading: &str, rows: Vec<(String, u64)>| {
        let _ = writeln!(out, "<h3>{}</h3>", l.get(heading, &[]));
        if rows.is_empty() {
            let _ = writeln!(out, "<p class=\"note\">{}</p>", l.get("none", &[]));
            return;
        }
        let _ = writeln!(
            out,
            "<table>\n<tr><th>{}</th><th>{}</th></tr>",
            l.get("column-item", &[]),
            l.get("column-count", &[])
        );
        for (name, count) in rows {
            let _ = writeln!(out, "<tr><td>{name}</td><td class=\"n\">{count}</td></tr>");
        }
        out.push_str("</table>\n");
    };
    table(
        &mut out,
        "section-by-provision",
        f.by_provision.iter().map(|(p, n)| (l.get("provision", &[("article", p.clone())]), *n)).collect(),
    );
    table(
        &mut out,
        "section-by-stage",
        f.by_stage.iter().map(|(s, n)| (l.get(&format!("stage-{s}"), &[]), *n)).collect(),
    );
    table(
        &mut out,
        "section-by-outcome",
        f.by_outcome.iter().map(|(o, n)| (l.get(&format!("outcome-{o}"), &[]), *n)).collect(),
    );
    table(&mut out, "section-counterparts", r.counterparts.iter().map(|(s, n)| (escape(s.as_str()), *n)).collect());

    if !r.sections.is_empty() {
        let _ = writeln!(out, "<h2>{}</h2>", l.get("section-text", &[]));
        let _ = writeln!(out, "<p class=\"note\">{}</p>", l.get("note-original", &[]));
        for s in &r.sections {
            let _ = writeln!(
                out,
                "<section lang=\"{}\"><h3>{}</h3><div class=\"text\">{}</div></section>",
                r.language.as_str(),
                escape(&s.heading),
                escape(&s.text)
            );
        }
    }

    let _ = writeln!(out, "<h2>{}</h2>\n<ul>", l.get("section-signatures", &[]));
    for (state, fingerprint) in &verified.authors {
        let _ = writeln!(
            out,
            "<li>{}</li>",
            l.get("label-signed-by", &[("state", state.to_string()), ("fingerprint", fingerprint.clone())])
        );
    }
    out.push_str("</ul>\n<dl>\n");
    let _ = writeln!(
        out,
        "<dt>{}</dt><dd class=\"mono\">{}</dd>",
        l.get("label-draft-hash", &[]),
        escape(&verified.draft_hash)
    );
    match (verified.number, verified.registered_at, &verified.secretariat_fingerprint) {
        (Some(number), Some(at), Some(fp)) => {
            let _ = writeln!(
                out,
                "<dt>{}</dt><dd class=\"mono\">{}</dd>\n</dl>\n<p>{}</p>",
                l.get("label-secretariat-key", &[]),
                escape(fp),
                l.get("label-registered", &[("number", number.to_string()), ("date", date(at))])
            );
        }
        _ => {
            let _ = writeln!(out, "</dl>\n<p>{}</p>", l.get("label-not-registered", &[]));
        }
    }
    let _ = writeln!(out, "<footer>{}</footer>\n</body>\n</html>", l.get("footer-verify", &[]));
    Ok(out)
}

fn states(list: &[veim_protocol::StateCode]) -> String {
    if list.is_empty() { "none".into() } else { list.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ") }
}

/// A report as this node holds it, for the operator.
pub fn render_view(v: &veim_node::api::ReportView) -> String {
    let mut out = String::new();
    let r = &v.report;
    let _ = writeln!(out, "Report {} revision {}: {}", v.report_id, v.revision, r.title);
    let _ = writeln!(out, "  period {}, drafted by {}, authors {}", r.period, v.drafter, states(&v.authors));
    let _ = writeln!(
        out,
        "  figures: {} exchange(s), {} answered; provisions {:?}; stages {:?}; outcomes {:?}",
        r.figures.exchanges, r.figures.answered, r.figures.by_provision, r.figures.by_stage, r.figures.by_outcome
    );
    let named: Vec<String> = r.counterparts.iter().map(|(s, n)| format!("{s} ({n})")).collect();
    let _ = writeln!(out, "  States named: {}", if named.is_empty() { "none".into() } else { named.join(", ") });
    let _ = writeln!(out, "  draft hash {}", v.draft_hash);
    let _ = writeln!(out, "  approved by {}; not yet by {}", states(&v.approved_by), states(&v.missing));
    for s in &v.sent {
        match &s.error {
            None => {
                let _ = writeln!(out, "  sent to {}", s.state);
            }
            Some(e) => {
                let _ = writeln!(out, "  NOT sent to {}: {e} (veim report send {})", s.state, v.report_id);
            }
        }
    }
    for c in &v.comments {
        let _ = writeln!(out, "  comments of {} on revision {}: {}", c.from, c.revision, c.text);
    }
    match v.registered_number {
        Some(n) => {
            let _ = writeln!(out, "  REGISTERED by the Secretariat as number {n}");
        }
        None if v.missing.is_empty() && v.authors.first() == Some(&v.drafter) => {
            let _ = writeln!(out, "  every author approved: ready to submit");
        }
        None => {}
    }
    out
}

pub fn render_list(list: &[veim_node::api::ReportView]) -> String {
    if list.is_empty() {
        return "No report to the CSP is held here.\n".into();
    }
    list.iter()
        .map(|v| {
            let state = match (v.registered_number, v.missing.is_empty()) {
                (Some(n), _) => format!("registered no. {n}"),
                (None, true) => "approved by all".into(),
                (None, false) => format!("awaiting {}", states(&v.missing)),
            };
            format!("{}  rev {}  {}  {}  {}\n", v.report_id, v.revision, states(&v.authors), v.report.period, state)
        })
        .collect()
}

pub fn render_register(list: &[veim_node::api::RegisteredView]) -> String {
    if list.is_empty() {
        return "The register of reports to the CSP is empty.\n".into();
    }
    list.iter()
        .map(|r| format!("no. {}  {}  {}  {}  {}\n", r.number, r.report_id, states(&r.authors), r.period, r.title))
        .collect()
}

pub fn render_verified(v: &VerifiedReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Report {} revision {} VERIFIED", v.report_id, v.revision);
    for (state, fp) in &v.authors {
        let _ = writeln!(out, "  signed by {state}, key fingerprint {fp}");
    }
    let _ = writeln!(out, "  draft hash {}", v.draft_hash);
    match (v.number, &v.secretariat_fingerprint) {
        (Some(n), Some(fp)) => {
            let _ = writeln!(out, "  registered by the Secretariat as number {n}, key fingerprint {fp}");
            if !v.anchored {
                let _ = writeln!(
                    out,
                    "  Compare that fingerprint with the one the ATT Secretariat publishes, or pass --secretariat-key."
                );
            }
        }
        _ => {
            let _ = writeln!(out, "  not registered: compare each fingerprint with the one its State publishes");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_english_key_is_translated_and_every_page_label_resolves_in_each_language() {
        let english = keys_of(labels_source(Language::En));
        for key in PAGE_KEYS {
            assert!(english.iter().any(|k| k == key), "the page uses {key}, which en.ftl lacks");
        }
        for lang in Language::ALL {
            let keys = keys_of(labels_source(lang));
            let missing: Vec<&String> = english.iter().filter(|k| !keys.contains(k)).collect();
            assert!(missing.is_empty(), "{lang}.ftl lacks {missing:?}");
            let extra: Vec<&String> = keys.iter().filter(|k| !english.contains(k)).collect();
            assert!(extra.is_empty(), "{lang}.ftl has keys en.ftl does not: {extra:?}");
            let labels = Labels::of(lang).expect("the labels load");
            for key in PAGE_KEYS {
                assert!(labels.resolves(key), "{key} does not resolve in {lang}");
            }
        }
        // The stage and outcome keys the page makes from the protocol's names.
        let en = Labels::of(Language::En).expect("labels");
        for s in veim_protocol::request::Stage::NAMES {
            assert!(en.resolves(&format!("stage-{s}")), "stage {s}");
        }
        for o in veim_protocol::report::OUTCOMES {
            assert!(en.resolves(&format!("outcome-{o}")), "outcome {o}");
        }
    }

    #[test]
    fn a_language_missing_a_label_is_refused_by_name() {
        let without: String = labels_source(Language::Fr)
            .lines()
            .filter(|l| !l.starts_with("section-by-stage"))
            .collect::<Vec<_>>()
            .join("\n");
        match Labels::from_source(Language::Fr, &without) {
            Err(ReportFileError::Labels { missing, .. }) => assert_eq!(missing, ["section-by-stage"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn values_are_escaped() {
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }
}
