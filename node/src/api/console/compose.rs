//! Composing a request from the Annex 1 template: the form, more item rows
//! on demand (a button that shows the form again with one more row, no
//! script), and the request sent through the API (`POST /v1/requests`),
//! whose validation is the CLI's. When the API finds problems, the form
//! comes back with every value kept and each problem next to its field.

use super::form::{self, Field, Group, Problems, Select};
use super::*;
use crate::api::{DirectoryListing, MessageView, SendRequest};
use veim_protocol::request::{ArmsCategory, ItemForm, Provision, Stage, TransferForm};
use veim_protocol::{EntryStatus, RequestForm};

pub(super) fn routes() -> Router<Console> {
    Router::new().route("/console/compose", get(page).post(send))
}

/// Item rows shown on a new form.
const FIRST_ROWS: usize = 2;

/// The form as sent: every value kept as written.
#[derive(Debug, Default)]
struct Values {
    to: Vec<String>,
    summary: String,
    states_involved: String,
    stage: String,
    stage_other: String,
    provisions: Vec<String>,
    categories: Vec<String>,
    /// Description, number and value of each row.
    items: Vec<[String; 3]>,
    state_of_origin: String,
    transit_states: String,
    importing_state: String,
    end_user: String,
    additional_information: String,
}

const ITEM_FIELDS: [&str; 3] = ["description", "number", "value"];

impl Values {
    fn read(pairs: &[(String, String)], more: bool) -> Values {
        let rows = form::rows(pairs, 1, more);
        Values {
            to: form::all(pairs, "to"),
            summary: form::one(pairs, "summary"),
            states_involved: form::one(pairs, "states_involved"),
            stage: form::one(pairs, "stage"),
            stage_other: form::one(pairs, "stage_other"),
            provisions: form::all(pairs, "provisions"),
            categories: form::all(pairs, "categories"),
            items: (0..rows).map(|i| ITEM_FIELDS.map(|f| form::item(pairs, i, f))).collect(),
            state_of_origin: form::one(pairs, "state_of_origin"),
            transit_states: form::one(pairs, "transit_states"),
            importing_state: form::one(pairs, "importing_state"),
            end_user: form::one(pairs, "end_user"),
            additional_information: form::one(pairs, "additional_information"),
        }
    }

    /// The API's body, the row of each item sent (blank rows are left
    /// out), and what the API cannot be given as written (a number that is
    /// not one).
    fn request(&self, tr: Tr, problems: &mut Problems) -> (SendRequest, Vec<usize>) {
        let mut items = Vec::new();
        let mut sent_rows = Vec::new();
        for (row, [description, number, value]) in self.items.iter().enumerate() {
            if [description, number, value].iter().all(|v| v.trim().is_empty()) {
                continue;
            }
            let number = match number.trim() {
                "" => 0,
                n => n.parse::<u64>().unwrap_or_else(|_| {
                    let label = tr.t1("compose-item-number-of", "row", &(row + 1));
                    problems.add(&format!("f-item-{row}-number"), &label, &tr.t1("compose-not-a-number", "value", &n));
                    0
                }),
            };
            items.push(ItemForm { description: description.trim().to_string(), number, value: form::given(value) });
            sent_rows.push(row);
        }
        let request = RequestForm {
            summary: self.summary.clone(),
            states_involved: form::list(&self.states_involved),
            stage: self.stage.clone(),
            stage_other: (self.stage == "other").then(|| self.stage_other.clone()),
            provisions: self.provisions.clone(),
            transfer: TransferForm {
                categories: self.categories.clone(),
                items,
                state_of_origin: form::given(&self.state_of_origin),
                transit_states: form::list(&self.transit_states),
                importing_state: form::given(&self.importing_state),
                end_user: form::given(&self.end_user),
            },
            additional_information: form::given(&self.additional_information),
            handling: None,
        };
        (SendRequest { to: self.to.clone(), request }, sent_rows)
    }
}

/// The element of the form a problem of `path` belongs to, and its label.
fn place(tr: Tr, path: &str, sent_rows: &[usize]) -> (String, String) {
    let top = |id: &str, key: &str| (id.to_string(), tr.t(key));
    let list = path.split('[').next().unwrap_or(path);
    match list {
        "to" => top("f-to", "compose-to"),
        "summary" => top("f-summary", "compose-summary"),
        "states_involved" => top("f-states-involved", "compose-states-involved"),
        "stage" => top("f-stage", "compose-stage"),
        "stage_other" => top("f-stage-other", "compose-stage-other"),
        "provisions" => top("f-provisions", "compose-provisions"),
        "transfer.categories" => top("f-categories", "compose-categories"),
        "transfer.state_of_origin" => top("f-state-of-origin", "compose-state-of-origin"),
        "transfer.transit_states" => top("f-transit-states", "compose-transit-states"),
        "transfer.importing_state" => top("f-importing-state", "compose-importing-state"),
        "transfer.end_user" => top("f-end-user", "compose-end-user"),
        "additional_information" => top("f-additional-information", "compose-additional-information"),
        "transfer.items" => match form::indexed(path, "transfer.items") {
            Some((k, field)) if ITEM_FIELDS.contains(&field) => {
                let row = sent_rows.get(k).copied().unwrap_or(k);
                (format!("f-item-{row}-{field}"), tr.t1(&format!("compose-item-{field}-of"), "row", &(row + 1)))
            }
            _ => top("f-item-0-description", "compose-items"),
        },
        // Handling restrictions are the node's defaults: not in the form.
        _ => ("compose".to_string(), path.to_string()),
    }
}

#[derive(askama::Template)]
#[template(path = "compose.html")]
struct ComposePage {
    frame: Frame,
    heading: String,
    problems: Vec<(String, String)>,
    recipients: Group,
    summary: Field,
    states_involved: Field,
    stage: Select,
    stage_other: Field,
    provisions: Group,
    categories: Group,
    items: Vec<[Field; 3]>,
    rows: usize,
    state_of_origin: Field,
    transit_states: Field,
    importing_state: Field,
    end_user: Field,
    additional_information: Field,
}

/// The States a request may be sent to: the directory's active States but
/// this one.
async fn recipients(official: &Official) -> Result<Vec<(String, String)>, ApiError> {
    let listing: DirectoryListing = official.api().get(official.name(), "/v1/directory").await?;
    let own = official.node().config.state;
    Ok(listing
        .entries
        .iter()
        .filter(|e| e.status == EntryStatus::Active && Some(e.state) != own)
        .map(|e| (e.state.to_string(), format!("{} ({})", e.name, e.state)))
        .collect())
}

async fn form_page(official: &Official, values: &Values, problems: &Problems) -> Response {
    let tr = official.tr;
    let states = match recipients(official).await {
        Ok(s) => s,
        Err(e) => return official.failed(&e),
    };
    let text = |id: &str, key: &str, value: &str| Field::new(id, tr.t(key), value).checked(problems);
    let stages = std::iter::once((String::new(), tr.t("compose-choose")))
        .chain(Stage::NAMES.iter().map(|s| (s.to_string(), tr.t(&format!("stage-{s}")))))
        .collect();
    let provisions = Provision::ALL
        .iter()
        .map(|(_, n)| (n.to_string(), tr.t(&format!("provision-{}", n.replace('.', "-")))))
        .collect();
    let categories = ArmsCategory::ALL
        .iter()
        .map(|(_, n, article)| (n.to_string(), format!("{} ({article})", tr.t(&format!("category-{n}")))))
        .collect();
    let items = values
        .items
        .iter()
        .enumerate()
        .map(|(row, v)| {
            ITEM_FIELDS.map(|f| {
                let i = ITEM_FIELDS.iter().position(|x| *x == f).unwrap_or(0);
                let field = Field::new(
                    format!("f-item-{row}-{f}"),
                    tr.t1(&format!("compose-item-{f}-of"), "row", &(row + 1)),
                    &v[i],
                )
                .named(format!("item-{row}-{f}"))
                .checked(problems);
                match f {
                    "number" => field.kind("numeric"),
                    "value" => field.help(tr.t("compose-item-value-help")),
                    _ => field,
                }
            })
        })
        .collect();
    let page = ComposePage {
        frame: official.frame(tr.t("compose-title"), "/console/compose"),
        heading: tr.count("form-problems", problems.list.len()),
        problems: problems.list.clone(),
        recipients: Group::new("f-to", tr.t("compose-to"), states, &values.to, problems),
        summary: text("f-summary", "compose-summary", &values.summary).named("summary").kind("textarea"),
        states_involved: text("f-states-involved", "compose-states-involved", &values.states_involved)
            .named("states_involved")
            .help(tr.t("compose-states-help")),
        stage: Select::new("f-stage", tr.t("compose-stage"), stages, &values.stage).named("stage").checked(problems),
        stage_other: text("f-stage-other", "compose-stage-other", &values.stage_other).named("stage_other"),
        provisions: Group::new("f-provisions", tr.t("compose-provisions"), provisions, &values.provisions, problems),
        categories: Group::new("f-categories", tr.t("compose-categories"), categories, &values.categories, problems),
        items,
        rows: values.items.len(),
        state_of_origin: text("f-state-of-origin", "compose-state-of-origin", &values.state_of_origin)
            .named("state_of_origin"),
        transit_states: text("f-transit-states", "compose-transit-states", &values.transit_states)
            .named("transit_states")
            .help(tr.t("compose-states-help")),
        importing_state: text("f-importing-state", "compose-importing-state", &values.importing_state)
            .named("importing_state"),
        end_user: text("f-end-user", "compose-end-user", &values.end_user).named("end_user"),
        additional_information: text(
            "f-additional-information",
            "compose-additional-information",
            &values.additional_information,
        )
        .named("additional_information")
        .kind("textarea"),
    };
    let status = if problems.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    (status, render(&page)).into_response()
}

/// The refusal of the page to an official who may not send requests.
fn refused(official: &Official) -> Option<Response> {
    if official.may("POST", "/v1/requests") {
        return None;
    }
    let tr = official.tr;
    Some(official.problem(StatusCode::FORBIDDEN, tr.t("api-error-not-permitted"), tr.t("compose-refused"), Vec::new()))
}

async fn page(official: Official) -> Response {
    if let Some(refused) = refused(&official) {
        return refused;
    }
    let values = Values { items: vec![Default::default(); FIRST_ROWS], ..Values::default() };
    form_page(&official, &values, &Problems::default()).await
}

async fn send(posted: Posted<Nothing>) -> Response {
    let official = posted.official;
    if let Some(refused) = refused(&official) {
        return refused;
    }
    let tr = official.tr;
    let more = !form::one(&posted.pairs, "more").is_empty();
    let values = Values::read(&posted.pairs, more);
    if more {
        return form_page(&official, &values, &Problems::default()).await;
    }
    let mut problems = Problems::default();
    let (body, sent_rows) = values.request(tr, &mut problems);
    if !problems.is_empty() {
        return form_page(&official, &values, &problems).await;
    }
    match official.api().post::<_, MessageView>(official.name(), "/v1/requests", &body).await {
        Ok(sent) => {
            official.flash(true, tr.t("compose-sent"));
            Redirect::to(&format!("/console/exchanges/{}", sent.exchange_id)).into_response()
        }
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY.as_u16() && !e.problems.is_empty() => {
            problems.add_all(&e.problems, |path| place(tr, path, &sent_rows));
            form_page(&official, &values, &problems).await
        }
        Err(e) => official.failed(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_s_paths_find_their_fields() {
        let tr = Tr::new(veim_protocol::report::Language::En);
        assert_eq!(place(tr, "to[1]", &[]).0, "f-to");
        assert_eq!(place(tr, "states_involved[0]", &[]).0, "f-states-involved");
        assert_eq!(place(tr, "transfer.categories[2]", &[]).0, "f-categories");
        // The second item sent was written in the third row.
        assert_eq!(place(tr, "transfer.items[1].number", &[0, 2]).0, "f-item-2-number");
        assert_eq!(place(tr, "transfer.importing_state", &[]).0, "f-importing-state");
        assert_eq!(place(tr, "handling.use_until", &[]).0, "compose");
    }

    #[test]
    fn blank_rows_are_left_out_and_a_number_that_is_not_one_is_named() {
        let tr = Tr::new(veim_protocol::report::Language::En);
        let pairs: Vec<(String, String)> = [
            ("rows", "3"),
            ("to", "SWE"),
            ("to", "DEU"),
            ("item-0-description", "Rifles"),
            ("item-0-number", "ten"),
            ("item-2-description", "Cartridges"),
            ("item-2-number", "5"),
            ("item-2-value", "100 USD"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let values = Values::read(&pairs, false);
        assert_eq!(values.items.len(), 3);
        let mut problems = Problems::default();
        let (body, rows) = values.request(tr, &mut problems);
        assert_eq!(body.to, ["SWE", "DEU"]);
        assert_eq!(rows, [0, 2]);
        assert_eq!(body.request.transfer.items[1].number, 5);
        assert!(problems.of("f-item-0-number").is_some_and(|p| p.contains("ten")));
    }
}
