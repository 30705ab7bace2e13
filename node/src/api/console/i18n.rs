//! The console's texts in English, French and Spanish (Fluent), and dates
//! and numbers written the way each language writes them.
//!
//! Each area of the console has its own file per language under
//! `locales/<language>/<area>.ftl`, compiled into the binary. A key missing
//! in a language shows as `⟦key⟧` in the page (and the tests fail on it):
//! never the English text in a French page without anyone noticing.

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use std::sync::LazyLock;
use veim_protocol::report::Language;

/// The console's languages, in the order of [`AREAS`]' columns.
pub const LANGUAGES: [Language; 3] = [Language::En, Language::Fr, Language::Es];

macro_rules! area {
    ($name:literal) => {
        (
            $name,
            [
                include_str!(concat!("locales/en/", $name, ".ftl")),
                include_str!(concat!("locales/fr/", $name, ".ftl")),
                include_str!(concat!("locales/es/", $name, ".ftl")),
            ],
        )
    };
}

/// Every area's texts: its name, then English, French, Spanish.
pub const AREAS: &[(&str, [&str; 3])] = &[
    area!("common"),
    area!("exchanges"),
    area!("compose"),
    area!("terms"),
    area!("audit"),
    area!("directory"),
    area!("secretariat"),
    area!("users"),
];

fn column(language: Language) -> usize {
    match language {
        Language::En => 0,
        Language::Fr => 1,
        Language::Es => 2,
    }
}

type Bundle = FluentBundle<FluentResource>;

static BUNDLES: LazyLock<Vec<Bundle>> = LazyLock::new(|| {
    LANGUAGES
        .iter()
        .map(|language| {
            let id: unic_langid::LanguageIdentifier = language.as_str().parse().unwrap_or_default();
            let mut bundle = FluentBundle::new_concurrent(vec![id]);
            // Text goes into HTML: no Unicode isolation marks around values.
            bundle.set_use_isolating(false);
            for (area, texts) in AREAS {
                let resource = match FluentResource::try_new(texts[column(*language)].to_string()) {
                    Ok(r) => r,
                    Err((r, errors)) => {
                        tracing::error!(area, language = language.as_str(), ?errors, "console texts do not parse");
                        r
                    }
                };
                if let Err(errors) = bundle.add_resource(resource) {
                    tracing::error!(area, language = language.as_str(), ?errors, "console texts named twice");
                }
            }
            bundle
        })
        .collect()
});

/// The texts of one language, for a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tr {
    pub language: Language,
}

impl Tr {
    pub fn new(language: Language) -> Tr {
        Tr { language }
    }

    /// `en`, `fr` or `es`, for `<html lang>`.
    pub fn code(&self) -> &'static str {
        self.language.as_str()
    }

    fn format(&self, key: &str, args: Option<&FluentArgs>) -> String {
        let bundle = &BUNDLES[column(self.language)];
        let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
            return format!("⟦{key}⟧");
        };
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, args, &mut errors);
        if !errors.is_empty() {
            tracing::warn!(key, ?errors, "a console text's arguments are missing");
        }
        text.into_owned()
    }

    /// The text of `key`.
    pub fn t(&self, key: &str) -> String {
        self.format(key, None)
    }

    /// The text of `key` with one argument.
    pub fn t1(&self, key: &str, name: &str, value: &dyn std::fmt::Display) -> String {
        let mut args = FluentArgs::new();
        args.set(name.to_string(), FluentValue::from(value.to_string()));
        self.format(key, Some(&args))
    }

    /// The text of `key` with a count (for plurals), written as a number of
    /// the language.
    pub fn count(&self, key: &str, n: usize) -> String {
        let mut args = FluentArgs::new();
        args.set("count", FluentValue::from(n));
        args.set("shown", FluentValue::from(self.number(n as u64)));
        self.format(key, Some(&args))
    }

    /// `n` with the language's grouping of thousands: 12,345 · 12 345 · 12.345.
    pub fn number(&self, n: u64) -> String {
        let digits = n.to_string();
        let (separator, from) = match self.language {
            Language::En => (",", 4),
            // A narrow no-break space, as French typography writes it.
            Language::Fr => ("\u{202f}", 4),
            // Spanish groups from five digits on (RAE).
            Language::Es => (".", 5),
        };
        if digits.len() < from {
            return digits;
        }
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push_str(separator);
            }
            out.push(c);
        }
        out
    }

    /// The day of Unix time `t` (UTC): 6 December 2026 · 6 décembre 2026 ·
    /// 6 de diciembre de 2026.
    pub fn day(&self, t: i64) -> String {
        let Ok(at) = time::OffsetDateTime::from_unix_timestamp(t) else { return t.to_string() };
        let mut args = FluentArgs::new();
        args.set("day", FluentValue::from(at.day().to_string()));
        args.set("month", FluentValue::from(self.t(&format!("month-{}", u8::from(at.month())))));
        args.set("year", FluentValue::from(at.year().to_string()));
        self.format("date-day", Some(&args))
    }

    /// The day and time of Unix time `t`, in UTC.
    pub fn time(&self, t: i64) -> String {
        let Ok(at) = time::OffsetDateTime::from_unix_timestamp(t) else { return t.to_string() };
        let mut args = FluentArgs::new();
        args.set("date", FluentValue::from(self.day(t)));
        args.set("time", FluentValue::from(format!("{:02}:{:02}", at.hour(), at.minute())));
        self.format("date-time", Some(&args))
    }

    /// Optional time, or a dash.
    pub fn maybe_time(&self, t: &Option<i64>) -> String {
        t.map_or_else(|| "—".into(), |t| self.time(t))
    }
}

/// The console's language a browser asks for first in `Accept-Language`
/// (English when it names none of the three).
pub fn from_accept_language(header: Option<&str>) -> Language {
    let Some(header) = header else { return Language::En };
    let mut asked: Vec<(f32, usize, Language)> = header
        .split(',')
        .enumerate()
        .filter_map(|(i, part)| {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next()?.trim();
            let q = pieces.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
            let primary = tag.split(['-', '_']).next()?.to_ascii_lowercase();
            Language::parse(&primary).map(|l| (q, i, l))
        })
        .filter(|(q, _, _)| *q > 0.0)
        .collect();
    asked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    asked.first().map_or(Language::En, |(_, _, l)| *l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The messages a file defines (it must parse whole).
    fn keys(text: &str) -> BTreeSet<String> {
        assert!(FluentResource::try_new(text.to_string()).is_ok(), "the texts parse:\n{text}");
        text.lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()))
            .filter_map(|l| l.split_once(" =").map(|(k, _)| k.trim().to_string()))
            .collect()
    }

    #[test]
    fn every_text_exists_in_the_three_languages_and_parses() {
        for (area, texts) in AREAS {
            let english = keys(texts[0]);
            assert!(!english.is_empty(), "{area}");
            for (language, text) in LANGUAGES.iter().zip(texts).skip(1) {
                let other = keys(text);
                let missing: Vec<_> = english.difference(&other).collect();
                let extra: Vec<_> = other.difference(&english).collect();
                assert!(
                    missing.is_empty() && extra.is_empty(),
                    "{area} {language:?}: missing {missing:?}, extra {extra:?}"
                );
            }
        }
    }

    /// Every key the templates and the console's code name exists in the
    /// texts (so no page shows `⟦key⟧`).
    #[test]
    fn every_key_the_pages_name_is_a_text() {
        let mut named = BTreeSet::new();
        let sources: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/api/console/templates"))
            .expect("templates")
            .chain(std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/api/console")).expect("console"))
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "html" || x == "rs"))
            .map(|e| std::fs::read_to_string(e.path()).expect("source"))
            .collect();
        for source in &sources {
            for call in [".t(\"", ".t1(\"", ".count(\"", "key: \""] {
                for piece in source.split(call).skip(1) {
                    if let Some(end) = piece.find('"') {
                        named.insert(piece[..end].to_string());
                    }
                }
            }
        }
        assert!(named.len() > 20, "{named:?}");
        for language in LANGUAGES {
            let tr = Tr::new(language);
            for key in &named {
                assert!(!tr.t(key).contains('⟦'), "{key} has no {language:?} text");
            }
        }
    }

    #[test]
    fn numbers_and_dates_are_written_as_each_language_writes_them() {
        let (en, fr, es) = (Tr::new(Language::En), Tr::new(Language::Fr), Tr::new(Language::Es));
        assert_eq!(en.number(1234567), "1,234,567");
        assert_eq!(fr.number(1234567), "1\u{202f}234\u{202f}567");
        assert_eq!(es.number(1234), "1234");
        assert_eq!(es.number(12345), "12.345");
        assert_eq!(en.number(999), "999");
        let t = 1_796_571_660; // 2026-12-06 15:41 UTC
        assert_eq!(en.day(t), "6 December 2026");
        assert_eq!(fr.day(t), "6 décembre 2026");
        assert_eq!(es.day(t), "6 de diciembre de 2026");
        assert_eq!(en.time(t), "6 December 2026, 15:41 UTC");
        assert!(fr.time(t).contains("15:41"), "{}", fr.time(t));
    }

    #[test]
    fn a_browser_s_languages_choose_the_console_s() {
        assert_eq!(from_accept_language(Some("fr-FR,fr;q=0.9,en;q=0.8")), Language::Fr);
        assert_eq!(from_accept_language(Some("de-DE, es;q=0.5, en;q=0.4")), Language::Es);
        assert_eq!(from_accept_language(Some("en;q=0.2, es-MX;q=0.9")), Language::Es);
        assert_eq!(from_accept_language(Some("de, ru")), Language::En);
        assert_eq!(from_accept_language(Some("fr;q=0")), Language::En);
        assert_eq!(from_accept_language(None), Language::En);
    }
}
