//! Responding to a request with the information items of Annex 2: a
//! summary and item rows, each of a kind and the fields that kind takes.
//! Without a script, a button shows the form again with the fields of the
//! kinds chosen (and another one adds a row). The response goes through
//! the API (`POST /v1/exchanges/{id}/respond`); its problems come back
//! next to their fields, with every value kept.

use super::exchanges::encode;
use super::form::{self, Field, Problems, Select};
use super::*;
use crate::api::{MessageView, RespondRequest};
use axum::extract::Path;
use veim_protocol::response::{InformationItem, ItemForm, ResponseForm};

pub(super) fn routes() -> Router<Console> {
    Router::new().route("/console/exchanges/{id}/respond", get(page).post(send))
}

/// The fields each kind of item takes, in the order shown.
fn fields_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "end-user-file" => &["end_user", "details"],
        "broker" | "shipping-company" => &["name", "details"],
        "address" => &["of", "address"],
        "national-database-record" => &["database", "reference", "details"],
        "price-cost-commission-taxes" => &["price", "cost", "commission", "taxes", "details"],
        "route" => &["states", "details"],
        "customary-procedure" => &["details"],
        "volume-and-date-acknowledged" => &["volume", "date", "details"],
        "other" => &["title", "details"],
        _ => &[],
    }
}

/// A row as sent: its kind and the values of its kind's fields.
struct Row {
    kind: String,
    values: Vec<(&'static str, String)>,
    /// The page showed the fields of this kind (else the kind was chosen
    /// but its fields not yet shown).
    shown: bool,
}

impl Row {
    fn read(pairs: &[(String, String)], row: usize) -> Row {
        let kind = form::item(pairs, row, "kind");
        let values = fields_of(&kind).iter().map(|f| (*f, form::item(pairs, row, f))).collect();
        let prefix = format!("item-{row}-");
        let shown = fields_of(&kind).iter().any(|f| pairs.iter().any(|(k, _)| k.strip_prefix(&prefix) == Some(*f)));
        Row { kind, values, shown }
    }

    fn blank(&self) -> bool {
        self.values.iter().all(|(_, v)| v.trim().is_empty())
    }

    fn value(&self, field: &str) -> Option<String> {
        self.values.iter().find(|(f, _)| *f == field).and_then(|(_, v)| form::given(v))
    }
}

fn read(pairs: &[(String, String)], more: bool) -> Vec<Row> {
    (0..form::rows(pairs, 1, more)).map(|i| Row::read(pairs, i)).collect()
}

/// The API's body and the row of each item sent (rows left blank are not
/// sent), or the problems the API cannot be given (a volume that is not a
/// number).
fn response(tr: Tr, summary: &str, rows: &[Row], problems: &mut Problems) -> (ResponseForm, Vec<usize>) {
    let mut items = Vec::new();
    let mut sent = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        if row.kind.is_empty() || row.blank() {
            continue;
        }
        let volume = row.value("volume").and_then(|v| {
            v.parse::<u64>()
                .map_err(|_| {
                    let label = tr.t1("respond-field-volume-of", "row", &(i + 1));
                    problems.add(&format!("f-item-{i}-volume"), &label, &tr.t1("compose-not-a-number", "value", &v));
                })
                .ok()
        });
        items.push(ItemForm {
            kind: row.kind.clone(),
            end_user: row.value("end_user"),
            name: row.value("name"),
            of: row.value("of"),
            address: row.value("address"),
            database: row.value("database"),
            reference: row.value("reference"),
            price: row.value("price"),
            cost: row.value("cost"),
            commission: row.value("commission"),
            taxes: row.value("taxes"),
            states: row.value("states").map(|s| form::list(&s)).unwrap_or_default(),
            volume,
            date: row.value("date"),
            title: row.value("title"),
            details: row.value("details"),
        });
        sent.push(i);
    }
    (ResponseForm { summary: summary.to_string(), items, handling: None }, sent)
}

/// The element a problem of `path` belongs to, and its label.
fn place(tr: Tr, path: &str, sent: &[usize]) -> (String, String) {
    match form::indexed(path, "items") {
        Some((k, field)) => {
            let row = sent.get(k).copied().unwrap_or(k);
            // `items[0].price` or `items[0]` (the item as a whole: its kind).
            let field = field.split(['.', '[']).next().filter(|f| !f.is_empty()).unwrap_or("kind");
            (format!("f-item-{row}-{field}"), tr.t1(&format!("respond-field-{field}-of"), "row", &(row + 1)))
        }
        None if path == "summary" => ("f-summary".into(), tr.t("respond-summary")),
        None if path == "items" => ("f-item-0-kind".into(), tr.t("respond-items")),
        None => ("respond".into(), path.to_string()),
    }
}

/// A row of the form: the kind's select box and its fields.
pub(crate) struct ItemRow {
    pub kind: Select,
    pub fields: Vec<Field>,
}

#[derive(askama::Template)]
#[template(path = "respond.html")]
struct RespondPage {
    frame: Frame,
    id: String,
    heading: String,
    problems: Vec<(String, String)>,
    summary: Field,
    items: Vec<ItemRow>,
    rows: usize,
}

fn form_page(official: &Official, id: &str, summary: &str, rows: &[Row], problems: &Problems) -> Response {
    let tr = official.tr;
    let kinds: Vec<(String, String)> = std::iter::once((String::new(), tr.t("compose-choose")))
        .chain(InformationItem::KINDS.iter().map(|k| (k.to_string(), tr.t(&format!("item-kind-{k}")))))
        .collect();
    let items = rows
        .iter()
        .enumerate()
        .map(|(i, row)| ItemRow {
            kind: Select::new(
                format!("f-item-{i}-kind"),
                tr.t1("respond-field-kind-of", "row", &(i + 1)),
                kinds.clone(),
                &row.kind,
            )
            .named(format!("item-{i}-kind"))
            .checked(problems),
            fields: row
                .values
                .iter()
                .map(|(f, v)| {
                    let field = Field::new(
                        format!("f-item-{i}-{f}"),
                        tr.t1(&format!("respond-field-{f}-of"), "row", &(i + 1)),
                        v,
                    )
                    .named(format!("item-{i}-{f}"))
                    .checked(problems);
                    match *f {
                        "details" | "address" => field.kind("textarea"),
                        "volume" => field.kind("numeric"),
                        "date" => field.kind("date"),
                        "price" | "cost" | "commission" | "taxes" => field.help(tr.t("compose-item-value-help")),
                        "states" => field.help(tr.t("compose-states-help")),
                        _ => field,
                    }
                })
                .collect(),
        })
        .collect();
    let page = RespondPage {
        frame: official.frame(tr.t("respond-title"), "/console/exchanges"),
        id: id.to_string(),
        heading: tr.count("form-problems", problems.list.len()),
        problems: problems.list.clone(),
        summary: Field::new("f-summary", tr.t("respond-summary"), summary)
            .named("summary")
            .kind("textarea")
            .checked(problems),
        items,
        rows: rows.len(),
    };
    let status = if problems.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    (status, render(&page)).into_response()
}

/// The exchange's id as the API knows it (a prefix made whole), or the
/// page of the API's error.
async fn exchange(official: &Official, id: &str) -> Result<String, Response> {
    match official
        .api()
        .get::<crate::api::ExchangeView>(official.name(), &format!("/v1/exchanges/{}", encode(id)))
        .await
    {
        Ok(view) => Ok(view.exchange.exchange_id.to_hex()),
        Err(e) => Err(official.failed(&e)),
    }
}

async fn page(official: Official, Path(id): Path<String>) -> Response {
    let id = match exchange(&official, &id).await {
        Ok(id) => id,
        Err(page) => return page,
    };
    let rows = vec![Row { kind: String::new(), values: Vec::new(), shown: true }];
    form_page(&official, &id, "", &rows, &Problems::default())
}

async fn send(Path(id): Path<String>, posted: Posted<Nothing>) -> Response {
    let official = posted.official;
    let tr = official.tr;
    let pairs = &posted.pairs;
    let id = match exchange(&official, &id).await {
        Ok(id) => id,
        Err(page) => return page,
    };
    let summary = form::one(pairs, "summary");
    // "Show the fields" and "Add an item" show the form again, sending
    // nothing; so does sending a kind chosen whose fields were not shown.
    let more = !form::one(pairs, "more").is_empty();
    let rows = read(pairs, more);
    let unseen = rows.iter().any(|r| !r.kind.is_empty() && !r.shown);
    if more || unseen || !form::one(pairs, "refresh").is_empty() {
        return form_page(&official, &id, &summary, &rows, &Problems::default());
    }
    let mut problems = Problems::default();
    let (response, sent) = response(tr, &summary, &rows, &mut problems);
    if !problems.is_empty() {
        return form_page(&official, &id, &summary, &rows, &problems);
    }
    let path = format!("/v1/exchanges/{id}/respond");
    match official.api().post::<_, MessageView>(official.name(), &path, &RespondRequest { response }).await {
        Ok(_) => {
            official.flash(true, tr.t("respond-sent"));
            Redirect::to(&format!("/console/exchanges/{id}")).into_response()
        }
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY.as_u16() && !e.problems.is_empty() => {
            problems.add_all(&e.problems, |p| place(tr, p, &sent));
            form_page(&official, &id, &summary, &rows, &problems)
        }
        Err(e) => official.failed(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_send_their_kind_s_fields_and_problems_find_their_row() {
        let tr = Tr::new(veim_protocol::report::Language::En);
        let pairs: Vec<(String, String)> = [
            ("rows", "3"),
            ("item-0-kind", "broker"),
            ("item-0-name", "Acme Brokers"),
            ("item-0-title", "not a broker's field"),
            ("item-1-kind", "other"),
            ("item-2-kind", "volume-and-date-acknowledged"),
            ("item-2-volume", "many"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let rows = read(&pairs, false);
        let mut problems = Problems::default();
        let (form, sent) = response(tr, "s", &rows, &mut problems);
        assert_eq!(sent, [0, 2], "the blank row is left out");
        assert_eq!(form.items[0].name.as_deref(), Some("Acme Brokers"));
        assert_eq!(form.items[0].title, None, "only the kind's fields are sent");
        assert!(problems.of("f-item-2-volume").is_some());
        assert_eq!(place(tr, "items[1].date", &sent).0, "f-item-2-date");
        assert_eq!(place(tr, "items[0]", &sent).0, "f-item-0-kind");
        assert_eq!(place(tr, "items[0].states[1]", &sent).0, "f-item-0-states");
    }
}
