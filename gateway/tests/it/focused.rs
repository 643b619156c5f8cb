//! One SIP behaviour of the gateway per test, each against a gateway of its own.

use protocol::gateway::{EndReason, Event};
use tokio::time::timeout;

use crate::wire::{self, Ids, PATIENCE, TestGateway, Transport};

#[tokio::test]
async fn bye_for_an_unknown_dialog_is_481() {
    let tg = TestGateway::start().await;
    let mut client = tg.client(Transport::Udp).await;
    let ids = Ids::fresh();
    let uri = format!("sip:gateway@{}", tg.gw.sip_addr);
    let bye = wire::request(
        "BYE",
        &uri,
        &[
            ("Via", ids.via(&client)),
            ("Max-Forwards", "70".into()),
            ("From", format!("<sip:+4915112345678@carrier.invalid>;tag={}", ids.tag)),
            ("To", format!("<sip:+4930901820@{}>;tag=nosuchdialog", tg.gw.sip_addr)),
            ("Call-ID", ids.call_id.clone()),
            ("CSeq", "2 BYE".into()),
        ],
        "",
    );
    client.send(&bye).await;
    let response = client.final_response().await;
    assert_eq!(response.code, 481);
    assert_eq!(response.header("Call-ID"), Some(ids.call_id.as_str()));
    assert_eq!(response.cseq_method(), Some("BYE"));
    wire::assert_no_worker_panics();
}

/// The INVITE is refused with `488` and ACKed; the server hears nothing of it.
async fn assert_refused_488(body: &str) {
    let mut tg = TestGateway::start().await;
    let mut client = tg.client(Transport::Udp).await;
    let uri = format!("sip:+4930901820@{}", tg.gw.sip_addr);
    client.send(&wire::invite(&client, &Ids::fresh(), &uri, "+4915112345678", body)).await;
    let response = client.final_response().await;
    assert_eq!(response.code, 488, "{response:?}");
    assert!(response.to_tag().is_some(), "a final response carries a To tag: {response:?}");
    client.send(&wire::ack(&uri, &response)).await;
    tg.assert_no_stray_incoming().await;
    assert_eq!(tg.gw.active_calls(), 0);
    wire::assert_no_worker_panics();
}

#[tokio::test]
async fn invite_offering_only_g729_is_488() {
    assert_refused_488(&wire::sdp("18", &["rtpmap:18 G729/8000", "fmtp:18 annexb=no"])).await;
}

#[tokio::test]
async fn invite_without_a_body_is_488() {
    assert_refused_488("").await;
}

#[tokio::test]
async fn options_over_tcp_is_200_with_allow() {
    let tg = TestGateway::start().await;
    let response = wire::ping(&tg, Transport::Tcp).await;
    assert_eq!(response.code, 200, "{response:?}");
    let allow: Vec<String> =
        response.all("Allow").into_iter().flat_map(|v| v.split(',')).map(|m| m.trim().to_ascii_uppercase()).collect();
    for method in ["INVITE", "ACK", "CANCEL", "BYE", "OPTIONS"] {
        assert!(allow.iter().any(|m| m == method), "Allow lacks {method}: {allow:?}");
    }
    wire::assert_no_worker_panics();
}

/// A request out of a dialog with `method` and `extra` headers (and an SDP offer for INVITE),
/// over UDP; its final response.
async fn refused(tg: &TestGateway, method: &str, extra: &[(&str, String)]) -> wire::Response {
    let mut client = tg.client(Transport::Udp).await;
    let ids = Ids::fresh();
    let uri = format!("sip:+4930901820@{}", tg.gw.sip_addr);
    let mut headers = vec![
        ("Via", ids.via(&client)),
        ("Max-Forwards", "70".into()),
        ("From", format!("<sip:+4915112345678@carrier.invalid>;tag={}", ids.tag)),
        ("To", format!("<{uri}>")),
        ("Call-ID", ids.call_id.clone()),
        ("CSeq", format!("1 {method}")),
        ("Contact", format!("<sip:+4915112345678@{}>", client.local())),
    ];
    headers.extend(extra.iter().cloned());
    let body = if method == "INVITE" { wire::g711_offer() } else { String::new() };
    client.send(&wire::request(method, &uri, &headers, &body)).await;
    let response = client.final_response().await;
    if method == "INVITE" {
        client.send(&wire::ack(&uri, &response)).await;
    }
    response
}

#[tokio::test]
async fn an_unsupported_method_is_405_with_allow() {
    let tg = TestGateway::start().await;
    let response = refused(&tg, "REGISTER", &[("Expires", "3600".into())]).await;
    assert_eq!(response.code, 405, "{response:?}");
    // RFC 3261 §21.4.6: a 405 MUST list the allowed methods.
    let allow = response.header("Allow").unwrap_or_else(|| panic!("405 without Allow: {response:?}"));
    assert!(allow.contains("INVITE") && allow.contains("OPTIONS"), "{allow}");
    wire::assert_no_worker_panics();
}

#[tokio::test]
async fn an_invite_requiring_an_extension_is_420_with_unsupported() {
    let mut tg = TestGateway::start().await;
    // The gateway sends no reliable provisional responses (RFC 3262).
    let response = refused(&tg, "INVITE", &[("Require", "100rel".into()), ("Supported", "timer".into())]).await;
    assert_eq!(response.code, 420, "{response:?}");
    assert_eq!(response.header("Unsupported"), Some("100rel"));
    tg.assert_no_stray_incoming().await;
    wire::assert_no_worker_panics();
}

#[tokio::test]
async fn an_invite_with_a_body_other_than_sdp_is_415_with_accept() {
    let mut tg = TestGateway::start().await;
    let mut client = tg.client(Transport::Udp).await;
    let ids = Ids::fresh();
    let uri = format!("sip:+4930901820@{}", tg.gw.sip_addr);
    // SIP-I style: SDP and ISUP together. The gateway reads SDP only and says so.
    let body = format!(
        "--b1\r\nContent-Type: application/sdp\r\n\r\n{}--b1\r\nContent-Type: application/isup;version=itu-t92+\r\n\r\n\x01\x00\r\n--b1--\r\n",
        wire::g711_offer()
    );
    let invite = wire::request(
        "INVITE",
        &uri,
        &[
            ("Via", ids.via(&client)),
            ("Max-Forwards", "70".into()),
            ("From", format!("<sip:+4915112345678@carrier.invalid>;tag={}", ids.tag)),
            ("To", format!("<{uri}>")),
            ("Call-ID", ids.call_id.clone()),
            ("CSeq", "1 INVITE".into()),
            ("Contact", format!("<sip:+4915112345678@{}>", client.local())),
            ("Content-Type", "multipart/mixed;boundary=b1".into()),
        ],
        &body,
    );
    client.send(&invite).await;
    let response = client.final_response().await;
    client.send(&wire::ack(&uri, &response)).await;
    assert_eq!(response.code, 415, "{response:?}");
    assert_eq!(response.header("Accept"), Some("application/sdp"));
    tg.assert_no_stray_incoming().await;
    wire::assert_no_worker_panics();
}

/// A valid INVITE is offered to the server with the Request-URI's user as `to` and the From
/// user as `from`; the server's `Reject { code: 486 }` reaches the carrier as 486.
async fn offered_then_rejected_busy(transport: Transport) {
    let mut tg = TestGateway::start().await;
    let mut client = tg.client(transport).await;
    // The To header names someone else: the called number is the Request-URI's.
    let uri = format!("sip:+4930901820@{}", tg.gw.sip_addr);
    let ids = Ids::fresh();
    let invite = wire::request(
        "INVITE",
        &uri,
        &[
            ("Via", ids.via(&client)),
            ("Max-Forwards", "70".into()),
            ("From", format!("\"Erika Mustermann\" <sip:+4915112345678@carrier.invalid>;tag={}", ids.tag)),
            ("To", "<sip:reception@customer.invalid>".into()),
            ("Call-ID", ids.call_id.clone()),
            ("CSeq", "1 INVITE".into()),
            ("Contact", format!("<sip:+4915112345678@{}>", client.local())),
            ("Content-Type", "application/sdp".into()),
        ],
        &wire::g711_offer(),
    );
    client.send(&invite).await;

    let incoming = tg.incoming().await;
    assert_eq!(incoming.to, "+4930901820");
    assert_eq!(incoming.from, "+4915112345678");
    assert_eq!(incoming.source, client.local().to_string());
    assert_eq!(tg.gw.active_calls(), 1);

    tg.reject(&incoming.call_id, 486);
    let response = client.final_response().await;
    assert_eq!(response.code, 486, "{response:?}");
    assert_eq!(response.header("Call-ID"), Some(ids.call_id.as_str()));
    assert!(response.to_tag().is_some(), "a final response carries a To tag: {response:?}");
    client.send(&wire::ack(&uri, &response)).await;

    // The server hears how the call ended, and the gateway forgets it.
    let ended = timeout(PATIENCE, async {
        loop {
            match tg.events.recv().await.expect("the gateway's event channel") {
                Event::Ended { call_id, reason, sip_code } if call_id == incoming.call_id => break (reason, sip_code),
                Event::Ended { .. }
                | Event::Media { .. }
                | Event::Progress { .. }
                | Event::Answered { .. }
                | Event::AttemptStarted { .. }
                | Event::AttemptFailed { .. } => {}
                other @ Event::Incoming { .. } => panic!("unexpected {other:?}"),
            }
        }
    })
    .await;
    if let Ok((reason, sip_code)) = ended {
        assert_eq!(reason, EndReason::Busy);
        assert_eq!(sip_code, Some(486));
    }
    tg.assert_no_calls_left().await;
    // No retransmission of the 486 after the ACK (UDP), nothing else either.
    assert!(client.response_within(wire::QUIET * 2).await.is_none(), "a response after the ACK");
    wire::assert_no_worker_panics();
}

#[tokio::test]
async fn invite_is_offered_then_rejected_busy_over_udp() {
    offered_then_rejected_busy(Transport::Udp).await;
}

#[tokio::test]
async fn invite_is_offered_then_rejected_busy_over_tcp() {
    offered_then_rejected_busy(Transport::Tcp).await;
}
