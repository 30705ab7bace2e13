//! Another implementation's peer: what it may send under the Yamux and
//! request-response rules, the node takes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use veim_protocol::codec;
use veim_protocol::wire::{NetResponse, RefusalCode};
use veim_tests::large_frames::WindowSizedFrames;
use veim_tests::{RawPeer, TestNet, frame, keys_of, peer_of};

/// js-libp2p's Yamux sends data frames as large as the window the receiver
/// grants; rust-yamux accepts frames of at most 1 MiB but grew its window
/// past that, so such a peer streaming a large request had its connection
/// dropped (`FrameTooLarge`) half way. The node now grants at most what it
/// accepts: MEX's request of nearly 8 MiB, sent in frames as large as the window, is
/// read whole and answered, the window having grown past its first 256 KiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_sending_frames_as_large_as_the_window_has_its_large_request_read_and_answered() -> anyhow::Result<()> {
    let mut net = TestNet::admitted(&["MEX", "SWE"]).await?;
    net.national_mut("MEX").stop().await;
    let largest = Arc::new(AtomicUsize::new(0));
    let muxer = WindowSizedFrames { largest: largest.clone(), latency: Duration::from_millis(50) };
    let mut mex = RawPeer::with_window_sized_frames(keys_of(&net.national("MEX").home).libp2p_keypair(), muxer)?;
    // No request has variant 0xffffffff: the node reads all of it, then
    // refuses it by name.
    let mut request = vec![0u8; codec::MAX_FRAME - 1024];
    request[..4].copy_from_slice(&[0xff; 4]);
    let swe = net.national("SWE");
    let answer = mex.send_raw(peer_of(&swe.home), &swe.address, frame(&request)).await?;
    let answer: NetResponse = codec::decode::<_, { codec::MAX_FRAME }>("response", &answer)?;
    match answer {
        NetResponse::Refused(r) => assert_eq!(r.code, RefusalCode::Malformed, "{r:?}"),
        other => panic!("unexpected answer {other:?}"),
    }
    let largest = largest.load(Ordering::Relaxed);
    println!("largest data frame sent: {largest} bytes");
    assert!(largest > 256 << 10, "the window grew past its first 256 KiB: largest frame {largest} bytes");
    assert!(largest <= 1 << 20, "no frame over the 1 MiB the node accepts: {largest} bytes");
    net.shutdown().await;
    Ok(())
}
