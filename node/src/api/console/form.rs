//! The pieces of the console's forms that write messages: text fields,
//! groups of checkboxes and select boxes, each with the API's problem for
//! it shown next to it (`aria-describedby`) and listed in a summary at the
//! top of the form, with a link to the field.
//!
//! The API names a problem by the field's path in the request
//! (`transfer.items[0].number`); each form says which element of the page
//! a path belongs to.

use super::exchanges::Choice;
use std::collections::BTreeMap;
use veim_protocol::FieldError;

/// A field of text.
pub(crate) struct Field {
    pub id: String,
    pub name: String,
    pub label: String,
    pub value: String,
    /// A hint under the label (empty: none).
    pub help: String,
    pub error: Option<String>,
    /// `text`, `numeric`, `date` or `textarea`.
    pub kind: &'static str,
}

impl Field {
    pub fn new(id: impl Into<String>, label: String, value: &str) -> Field {
        let id = id.into();
        Field { name: id.clone(), id, label, value: value.to_string(), help: String::new(), error: None, kind: "text" }
    }

    pub fn named(mut self, name: impl Into<String>) -> Field {
        self.name = name.into();
        self
    }

    pub fn help(mut self, help: String) -> Field {
        self.help = help;
        self
    }

    pub fn kind(mut self, kind: &'static str) -> Field {
        self.kind = kind;
        self
    }

    /// Takes the problems found for this field.
    pub fn checked(mut self, problems: &Problems) -> Field {
        self.error = problems.of(&self.id);
        self
    }

    /// The ids of the hint and the error, for `aria-describedby`.
    pub fn described(&self) -> String {
        described(&self.id, !self.help.is_empty(), self.error.is_some())
    }
}

fn described(id: &str, help: bool, error: bool) -> String {
    let mut ids = Vec::new();
    if help {
        ids.push(format!("{id}-help"));
    }
    if error {
        ids.push(format!("{id}-error"));
    }
    ids.join(" ")
}

/// A checkbox of a group.
pub(crate) struct Check {
    pub id: String,
    pub value: String,
    pub label: String,
    pub checked: bool,
}

/// Checkboxes sharing a name, in a fieldset.
pub(crate) struct Group {
    pub id: String,
    pub name: String,
    pub legend: String,
    pub checks: Vec<Check>,
    pub error: Option<String>,
}

impl Group {
    /// A group of `(value, label)` choices, those in `chosen` checked.
    pub fn new(
        id: &str,
        legend: String,
        choices: Vec<(String, String)>,
        chosen: &[String],
        problems: &Problems,
    ) -> Group {
        let checks = choices
            .into_iter()
            .enumerate()
            .map(|(i, (value, label))| Check {
                id: format!("{id}-{i}"),
                checked: chosen.contains(&value),
                value,
                label,
            })
            .collect();
        Group { id: id.into(), name: id.trim_start_matches("f-").into(), legend, checks, error: problems.of(id) }
    }

    pub fn described(&self) -> String {
        described(&self.id, false, self.error.is_some())
    }
}

/// A select box.
pub(crate) struct Select {
    pub id: String,
    pub name: String,
    pub label: String,
    pub options: Vec<Choice>,
    pub error: Option<String>,
}

impl Select {
    pub fn new(id: impl Into<String>, label: String, options: Vec<(String, String)>, chosen: &str) -> Select {
        let id = id.into();
        let options =
            options.into_iter().map(|(value, label)| Choice { chosen: value == chosen, value, label }).collect();
        Select { name: id.clone(), id, label, options, error: None }
    }

    pub fn named(mut self, name: impl Into<String>) -> Select {
        self.name = name.into();
        self
    }

    pub fn checked(mut self, problems: &Problems) -> Select {
        self.error = problems.of(&self.id);
        self
    }

    pub fn described(&self) -> String {
        described(&self.id, false, self.error.is_some())
    }
}

/// The problems of a form sent: by the id of the element they belong to,
/// and as a list for the summary (the element's id, then the text).
#[derive(Default)]
pub(crate) struct Problems {
    by_id: BTreeMap<String, Vec<String>>,
    pub list: Vec<(String, String)>,
}

impl Problems {
    /// Adds a problem of element `id`, labelled `label` in the summary.
    pub fn add(&mut self, id: &str, label: &str, problem: &str) {
        self.by_id.entry(id.to_string()).or_default().push(problem.to_string());
        self.list.push((id.to_string(), format!("{label}: {problem}")));
    }

    /// Adds the API's problems: `place` gives the element of a path and
    /// its label.
    pub fn add_all(&mut self, problems: &[FieldError], place: impl Fn(&str) -> (String, String)) {
        for p in problems {
            let (id, label) = place(&p.field);
            self.add(&id, &label, &p.problem);
        }
    }

    pub fn of(&self, id: &str) -> Option<String> {
        self.by_id.get(id).map(|p| p.join(" "))
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// The values of every field named `name`, in the order sent.
pub(crate) fn all(pairs: &[(String, String)], name: &str) -> Vec<String> {
    pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
}

/// The value of field `name` (empty when absent).
pub(crate) fn one(pairs: &[(String, String)], name: &str) -> String {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
}

/// A text that is only sent when something is written in it.
pub(crate) fn given(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

/// A list written with commas or spaces: `SWE, DEU`.
pub(crate) fn list(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c == ';' || c.is_whitespace()).filter(|p| !p.is_empty()).map(str::to_string).collect()
}

/// The index and the rest of a path `PREFIX[i]REST`: `(i, REST)`.
pub(crate) fn indexed<'a>(path: &'a str, prefix: &str) -> Option<(usize, &'a str)> {
    let rest = path.strip_prefix(prefix)?.strip_prefix('[')?;
    let (index, rest) = rest.split_once(']')?;
    Some((index.parse().ok()?, rest.trim_start_matches('.')))
}

/// How many item rows a form shows: those sent (counted by the hidden
/// `rows` field and the rows' own fields), one more when asked, at least
/// `least`, at most [`MAX_ROWS`].
pub(crate) fn rows(pairs: &[(String, String)], least: usize, more: bool) -> usize {
    let sent = one(pairs, "rows").trim().parse::<usize>().unwrap_or(0);
    let named = pairs
        .iter()
        .filter_map(|(k, _)| k.strip_prefix("item-")?.split_once('-')?.0.parse::<usize>().ok())
        .map(|i| i + 1)
        .max()
        .unwrap_or(0);
    (sent.max(named).max(least) + usize::from(more)).min(MAX_ROWS)
}

/// The most item rows a form shows.
pub(crate) const MAX_ROWS: usize = 50;

/// Field `field` of item row `row`, as sent.
pub(crate) fn item(pairs: &[(String, String)], row: usize, field: &str) -> String {
    one(pairs, &format!("item-{row}-{field}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lists_and_rows_read_as_written() {
        assert_eq!(indexed("transfer.items[3].number", "transfer.items"), Some((3, "number")));
        assert_eq!(indexed("items[0]", "items"), Some((0, "")));
        assert_eq!(indexed("summary", "items"), None);
        assert_eq!(list(" SWE, DEU;FRA  ITA"), ["SWE", "DEU", "FRA", "ITA"]);
        let pairs = vec![("rows".to_string(), "2".to_string()), ("item-4-number".to_string(), "1".to_string())];
        assert_eq!(rows(&pairs, 1, false), 5);
        assert_eq!(rows(&pairs, 1, true), 6);
        assert_eq!(rows(&[], 3, false), 3);
        assert_eq!(rows(&[("rows".into(), "999".into())], 1, true), MAX_ROWS);
    }
}
