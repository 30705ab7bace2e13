//! Attachments between real nodes: sent in encrypted chunks, fetched by the
//! recipient, resumed after the link is cut in the middle, served to the
//! recipients of their message only, and saved for the operator without
//! replacing a file unasked or following a link planted in the folder.

use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;
use veim_node::api::{AttachRequest, MessageView, SaveRequest, SendRequest, StageRequest};
use veim_node::attachments::AttachmentView;
use veim_protocol::codec;
use veim_protocol::wire::{NetRequest, NetResponse, RefusalCode};
use veim_tests::{RawPeer, TestNet, blocking, peer_of, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_attachment_cut_in_the_middle_resumes_where_it_stopped() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE", "DEU"]).await?;
    let mex = net.national("MEX").api()?;
    let swe = net.national("SWE").api()?;
    let request: veim_protocol::RequestForm = toml::from_str(include_str!("../../../deploy/examples/request.toml"))?;
    let sent: MessageView = blocking(|| mex.post("/v1/requests", &SendRequest { to: vec!["SWE".into()], request }))?;
    let exchange = sent.exchange_id.clone();

    // A 16 MiB manifest (256 chunks of 64 KiB on the local network).
    let file = net.dir.path().join("manifest.bin");
    let data: Vec<u8> = (0..16 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&file, &data)?;
    let expected: [u8; 32] = Sha256::digest(&data).into();
    drop(data);
    let staged: AttachmentView =
        blocking(|| swe.post("/v1/attachments", &StageRequest { path: file.display().to_string() }))?;
    assert_eq!((staged.size, staged.chunks), (16 * 1024 * 1024, 256));
    let attached: MessageView = blocking(|| {
        swe.post(
            &format!("/v1/exchanges/{exchange}/attach"),
            &AttachRequest {
                text: "Bill of lading and manifest".into(),
                attachments: vec![staged.id.to_hex()],
                handling: None,
            },
        )
    })?;
    assert!(matches!(attached.deliveries[0].state, veim_node::storage::DeliveryState::Delivered { .. }));

    // Cut the link in the middle: the sender stops while MEX holds part of it.
    let partial = wait_for("MEX to hold part of the attachment", Duration::from_secs(30), || {
        let list: Vec<AttachmentView> = mex.get("/v1/attachments").ok()?;
        list.into_iter().find(|a| a.id == staged.id && a.chunks_held > 0 && a.chunks_held < a.chunks)
    })
    .await?;
    net.national_mut("SWE").stop().await;
    let during = wait_for("MEX to see the cut", Duration::from_secs(30), || {
        let list: Vec<AttachmentView> = mex.get("/v1/attachments").ok()?;
        list.into_iter().find(|a| a.id == staged.id && (a.complete || a.error.is_some()))
    })
    .await?;
    assert!(!during.complete && during.error.is_some(), "the cut is seen: {during:?}");
    net.national_mut("SWE").start().await?;

    // It resumes from the chunks held, and completes.
    let done = wait_for("the attachment to complete", Duration::from_secs(60), || {
        let list: Vec<AttachmentView> = mex.get("/v1/attachments").ok()?;
        list.into_iter().find(|a| a.id == staged.id && a.complete)
    })
    .await?;
    println!("cut at {} of {} chunks held; {} chunk requests in all", partial.chunks_held, done.chunks, done.fetched);
    assert!(
        done.fetched < done.chunks + partial.chunks_held,
        "resumed, not started over: {} requests for {} chunks, {} held at the cut",
        done.fetched,
        done.chunks,
        partial.chunks_held
    );
    let save = |out: &Path, force: bool| {
        blocking(|| {
            mex.post::<_, AttachmentView>(
                &format!("/v1/attachments/{}/save", &staged.id.to_hex()[..veim_protocol::ids::AttachmentId::SHORT_HEX]),
                &SaveRequest { out: out.display().to_string(), force },
            )
        })
    };
    let digest = |path: &Path| -> anyhow::Result<[u8; 32]> { Ok(Sha256::digest(std::fs::read(path)?).into()) };
    let out = net.dir.path().join("received.bin");
    save(&out, false)?;
    assert_eq!(digest(&out)?, expected, "the file MEX saved is the file SWE sent");
    saved_files_are_private_and_never_clobbered(&net, save, digest, expected)?;

    // Not sent to DEU: DEU's node cannot fetch it.
    net.national_mut("DEU").stop().await;
    let mut deu = RawPeer::impersonating(&net.national("DEU").home)?;
    let answer = deu
        .send(
            peer_of(&net.national("SWE").home),
            &net.national("SWE").address,
            &NetRequest::FetchChunk { attachment: staged.id, index: 0 },
        )
        .await?;
    match answer {
        NetResponse::Refused(r) => assert_eq!(r.code, RefusalCode::NotARecipient, "{r:?}"),
        other => {
            panic!("a chunk went to a State it was not sent to: {:?}", codec::encode("r", &other).map(|b| b.len()))
        }
    }
    net.shutdown().await;
    Ok(())
}

/// What `veim attachment save` may and may not do to the operator's folder,
/// checked on the attachment MEX holds (`expected` is its SHA-256):
/// a symlink planted where a temporary file was once predictably named is
/// not followed, an existing file is replaced only with `force`, and the
/// saved file is readable by the operator alone.
fn saved_files_are_private_and_never_clobbered(
    net: &TestNet,
    save: impl Fn(&Path, bool) -> Result<AttachmentView, veim_tools::ClientError>,
    digest: impl Fn(&Path) -> anyhow::Result<[u8; 32]>,
    expected: [u8; 32],
) -> anyhow::Result<()> {
    let dir = net.dir.path();
    // Another user's file, and a link to it where the old code wrote its
    // temporary (the output's name with its extension replaced by `part`).
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "not the node's to write")?;
    let out = dir.join("report.pdf");
    std::os::unix::fs::symlink(&victim, out.with_extension("part"))?;
    save(&out, false)?;
    assert_eq!(std::fs::read(&victim)?, b"not the node's to write", "the planted link was followed");
    assert_eq!(digest(&out)?, expected);

    // A file already there is refused, named, and left as it was.
    let kept = dir.join("kept.bin");
    std::fs::write(&kept, "the operator's own file")?;
    let refused = save(&kept, false).expect_err("saving onto an existing file is refused");
    let veim_tools::ClientError::Api(e) = &refused else { panic!("{refused}") };
    assert_eq!(e.status, 409, "{e:?}");
    assert!(e.message.contains(&kept.display().to_string()) && e.message.contains("--force"), "{}", e.message);
    assert_eq!(std::fs::read_to_string(&kept)?, "the operator's own file");
    let leftovers: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with('.') && n.ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind: {leftovers:?}");

    // With force, it is replaced.
    save(&kept, true)?;
    assert_eq!(digest(&kept)?, expected, "replaced with --force");

    use std::os::unix::fs::PermissionsExt;
    for f in [&out, &kept] {
        let mode = std::fs::metadata(f)?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is readable by others: {mode:o}", f.display());
    }
    Ok(())
}
