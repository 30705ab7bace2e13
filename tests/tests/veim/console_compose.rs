//! Writing in exchanges from the web console, over plain HTTP against two
//! real nodes: a request composed with mistakes comes back with each
//! problem next to its field and every value kept, then goes; the other
//! State's operator responds from their console and the reply reaches the
//! requesting State's thread; a file uploaded on one side downloads on the
//! other with the same bytes; an auditor may not compose.

use std::time::Duration;
use veim_tests::console::{ConsoleClient, Page, add_official};
use veim_tests::{TestNet, blocking, wait_for};

const PASSWORD: &str = "correct horse battery staple";

/// The value of attribute `attr` of the element with id `id`.
fn attribute(page: &Page, id: &str, attr: &str) -> Option<String> {
    let at = page.html.find(&format!("id=\"{id}\""))?;
    let start = page.html[..at].rfind('<')?;
    let end = at + page.html[at..].find('>')?;
    let tag = &page.html[start..end];
    let needle = format!("{attr}=\"");
    let from = tag.find(&needle)? + needle.len();
    Some(tag[from..from + tag[from..].find('"')?].to_string())
}

/// The text of the element with id `id` (up to its closing tag).
fn text_of(page: &Page, id: &str) -> Option<String> {
    let at = page.html.find(&format!("id=\"{id}\""))?;
    let from = at + page.html[at..].find('>')? + 1;
    Some(page.html[from..from + page.html[from..].find("</")?].to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_composed_in_the_console_is_answered_in_the_other_console_with_a_file() -> anyhow::Result<()> {
    let net = TestNet::admitted(&["MEX", "SWE"]).await?;
    let (mex, swe) = (net.national("MEX"), net.national("SWE"));
    let (mex_admin, swe_admin) = (mex.api()?, swe.api()?);
    blocking(|| add_official(&mex_admin, "maria", &["operator"], "en", PASSWORD))?;
    blocking(|| add_official(&mex_admin, "aude", &["auditor"], "en", PASSWORD))?;
    blocking(|| add_official(&swe_admin, "sven", &["operator"], "en", PASSWORD))?;
    let maria = ConsoleClient::of(&mex.home, "en")?;
    blocking(|| maria.login("maria", PASSWORD, None))?;

    // The form offers the directory's other active States.
    let form = blocking(|| maria.get("/console/compose"))?;
    assert_eq!(form.status, 200, "{}", form.text());
    assert_eq!(attribute(&form, "f-to-0", "value").as_deref(), Some("SWE"), "{}", form.html);
    assert!(!form.html.contains("value=\"MEX\""), "not to itself");
    assert!(!form.html.contains('⟦'), "no text is missing");

    let mut fields = vec![
        ("to", "SWE"),
        ("rows", "2"),
        ("summary", "Rifles of licence MX-2016-0412 seized outside the end user's area"),
        ("states_involved", "SWE"),
        ("stage", "diversion-detected"),
        ("provisions", "11.4"),
        ("provisions", "11.5"),
        ("categories", "small-arms-and-light-weapons"),
        ("item-0-description", "Assault rifles, 5.56 mm"),
        ("item-0-number", "0"),
        ("item-0-value", "1240000.00 USD"),
        ("item-1-description", ""),
        ("item-1-number", ""),
        ("item-1-value", ""),
        ("importing_state", "Atlantis"),
        ("end_user", "Ministry of Defence, Logistics Command"),
    ];
    // One more row, without sending: the values stay.
    let more = blocking(|| maria.post(&form, "/console/compose", &[fields.clone(), vec![("more", "1")]].concat()))?;
    assert_eq!(more.status, 200, "{}", more.text());
    assert!(more.html.contains("id=\"f-item-2-description\""), "a third row");
    assert_eq!(attribute(&more, "f-importing-state", "value").as_deref(), Some("Atlantis"));

    // Mistakes: each problem next to its field, every value kept.
    let wrong = blocking(|| maria.post(&form, "/console/compose", &fields))?;
    assert_eq!(wrong.status, 422, "{}", wrong.text());
    let number = text_of(&wrong, "f-item-0-number-error").unwrap_or_default();
    assert!(number.contains("must be at least 1"), "{number}: {}", wrong.html);
    assert_eq!(attribute(&wrong, "f-item-0-number", "aria-describedby").as_deref(), Some("f-item-0-number-error"));
    assert!(text_of(&wrong, "f-importing-state-error").is_some_and(|e| e.contains("Atlantis")), "{}", wrong.html);
    assert!(wrong.html.contains("id=\"form-errors\"") && wrong.html.contains("href=\"#f-item-0-number\""));
    assert_eq!(attribute(&wrong, "f-importing-state", "value").as_deref(), Some("Atlantis"));
    assert_eq!(attribute(&wrong, "f-item-0-value", "value").as_deref(), Some("1240000.00 USD"));
    assert!(wrong.html.contains("value=\"SWE\" checked"), "the recipient stays chosen");
    assert!(wrong.html.contains("value=\"11.5\" checked"), "the provisions stay chosen");
    assert!(wrong.html.contains("<option value=\"diversion-detected\" selected>"), "the stage stays chosen");
    assert!(text_of(&wrong, "f-summary").is_some_and(|s| s.contains("MX-2016-0412")));

    // Corrected, it goes, and the browser is sent to its thread.
    for (k, v) in fields.iter_mut() {
        match *k {
            "item-0-number" => *v = "400",
            "importing_state" => *v = "SWE",
            _ => {}
        }
    }
    let sent = blocking(|| maria.post(&form, "/console/compose", &fields))?;
    assert_eq!(sent.status, 303, "{}", sent.text());
    let thread = sent.location.clone().unwrap_or_default();
    let exchange = thread.trim_start_matches("/console/exchanges/").to_string();
    assert_eq!(exchange.len(), 32, "{thread}");
    let page = blocking(|| maria.follow(&sent))?;
    assert!(page.text().contains("The request was sent."), "{}", page.text());
    assert!(page.text().contains("Assault rifles, 5.56 mm"), "{}", page.text());

    // SWE's operator finds it and responds from the console.
    let sven = ConsoleClient::of(&swe.home, "en")?;
    blocking(|| sven.login("sven", PASSWORD, None))?;
    let received = wait_for("the request to reach SWE", Duration::from_secs(30), || {
        sven.get(&thread).ok().filter(|p| p.status == 200)
    })
    .await?;
    assert!(received.html.contains("id=\"respond\""), "SWE may respond");
    let inbox = blocking(|| sven.get("/console/inbox"))?;
    assert!(inbox.html.contains(&thread), "in SWE's inbox");
    let respond = format!("{thread}/respond");
    let form = blocking(|| sven.get(&respond))?;
    assert_eq!(form.status, 200, "{}", form.text());
    // A kind chosen without its fields shown: the fields are shown.
    let chosen = [("rows", "1"), ("summary", "What our customs hold"), ("item-0-kind", "volume-and-date-acknowledged")];
    let shown = blocking(|| sven.post(&form, &respond, &chosen))?;
    assert_eq!(shown.status, 200, "{}", shown.text());
    assert!(shown.html.contains("id=\"f-item-0-date\"") && !shown.html.contains("id=\"f-item-0-name\""));
    let mut answer = vec![
        ("rows", "1"),
        ("summary", "What our customs hold"),
        ("item-0-kind", "volume-and-date-acknowledged"),
        ("item-0-volume", "400"),
        ("item-0-date", "last spring"),
        ("item-0-details", "Customs entry 2017/118"),
    ];
    let wrong = blocking(|| sven.post(&form, &respond, &answer))?;
    assert_eq!(wrong.status, 422, "{}", wrong.text());
    assert!(text_of(&wrong, "f-item-0-date-error").is_some_and(|e| e.contains("YYYY-MM-DD")), "{}", wrong.html);
    assert_eq!(attribute(&wrong, "f-item-0-volume", "value").as_deref(), Some("400"));
    answer[4].1 = "2017-04-03";
    let replied = blocking(|| sven.post(&form, &respond, &answer))?;
    assert_eq!((replied.status, replied.location.as_deref()), (303, Some(thread.as_str())), "{}", replied.text());

    // The reply reaches MEX's thread.
    wait_for("the response to reach MEX", Duration::from_secs(30), || {
        maria.get(&thread).ok().filter(|p| p.text().contains("Customs entry 2017/118"))
    })
    .await?;

    // SWE records a measure: under the wrong provision first, then right;
    // MEX moves the stage. Both reach the other side.
    let progress = format!("{thread}/progress");
    let form = blocking(|| sven.get(&progress))?;
    assert_eq!(form.status, 200, "{}", form.text());
    let today = attribute(&form, "f-date", "value").unwrap_or_default();
    let mut measure = vec![
        ("provision", "11.5"),
        ("kind", "shipment-examined"),
        ("date", today.as_str()),
        ("text", "Container MSCU-771 examined"),
    ];
    let wrong = blocking(|| sven.post(&form, &format!("{thread}/measures"), &measure))?;
    assert_eq!(wrong.status, 422, "{}", wrong.text());
    assert!(text_of(&wrong, "f-kind-error").is_some_and(|e| e.contains("11.4")), "{}", wrong.html);
    assert!(wrong.html.contains("<option value=\"11.5\" selected>"), "the values stay");
    measure[0].1 = "11.4";
    let recorded = blocking(|| sven.post(&form, &format!("{thread}/measures"), &measure))?;
    assert_eq!((recorded.status, recorded.location.as_deref()), (303, Some(thread.as_str())), "{}", recorded.text());
    let form = blocking(|| maria.get(&progress))?;
    let moved = blocking(|| maria.post(&form, &format!("{thread}/stage"), &[("stage", "reached-end-user")]))?;
    assert_eq!((moved.status, moved.location.as_deref()), (303, Some(thread.as_str())), "{}", moved.text());
    wait_for("the measure to reach MEX", Duration::from_secs(30), || {
        maria.get(&thread).ok().filter(|p| p.text().contains("Container MSCU-771 examined"))
    })
    .await?;
    wait_for("the stage to reach SWE", Duration::from_secs(30), || {
        sven.get(&thread).ok().filter(|p| p.html.contains("reached-end-user"))
    })
    .await?;

    // A file uploaded on MEX reaches SWE and downloads with the same bytes.
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let page = blocking(|| maria.get(&thread))?;
    assert!(page.html.contains("id=\"upload\""), "MEX may attach");
    let uploaded = blocking(|| {
        maria.post_file(
            &page,
            &format!("{thread}/attachments"),
            &[("text", "Seizure report")],
            ("file", "seizure report.bin", &bytes),
        )
    })?;
    assert_eq!((uploaded.status, uploaded.location.as_deref()), (303, Some(thread.as_str())), "{}", uploaded.text());
    let without_token = blocking(|| {
        maria.post_file(
            &Page { status: 0, location: None, html: String::new(), headers: Vec::new() },
            &format!("{thread}/attachments"),
            &[],
            ("file", "x.bin", b"x"),
        )
    })?;
    assert_eq!(without_token.status, 403, "an upload without its token is refused");
    let held = wait_for("the file to reach SWE whole", Duration::from_secs(60), || {
        sven.get(&thread).ok().filter(|p| p.html.contains("id=\"download-"))
    })
    .await?;
    let at = held.html.find("id=\"download-").unwrap_or(0) + "id=\"download-".len();
    let id = &held.html[at..at + held.html[at..].find('"').unwrap_or(0)];
    let got = blocking(|| sven.download(&format!("/console/attachments/{id}/download")))?;
    assert_eq!(got.status, 200);
    let disposition = got.headers.iter().find(|(k, _)| k == "content-disposition").map(|(_, v)| v.as_str());
    assert_eq!(disposition, Some("attachment; filename=\"seizure report.bin\"; filename*=UTF-8''seizure%20report.bin"));
    assert!(got.bytes == bytes, "the same bytes ({} of {})", got.bytes.len(), bytes.len());

    // An auditor may not compose: no menu link, the page and the form refused.
    let aude = ConsoleClient::of(&mex.home, "en")?;
    blocking(|| aude.login("aude", PASSWORD, None))?;
    let dashboard = blocking(|| aude.get("/console/"))?;
    assert!(!dashboard.html.contains("href=\"/console/compose\""));
    let refused = blocking(|| aude.get("/console/compose"))?;
    assert_eq!(refused.status, 403, "{}", refused.text());
    let refused = blocking(|| aude.post(&dashboard, "/console/compose", &fields))?;
    assert_eq!(refused.status, 403, "{}", refused.text());
    net.shutdown().await;
    Ok(())
}
