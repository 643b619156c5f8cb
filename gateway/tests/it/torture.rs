//! Every SIP torture message of RFC 4475 and RFC 5118 (`torture/`, copied byte-exact from the
//! shared test data; see `torture/NOTICE.md`), replayed at a real gateway over UDP and over TCP,
//! one fresh socket per message.
//!
//! For each message the outcome is what came back: the final status codes (provisional ones are
//! shown, not compared), `Incoming` when the INVITE was offered to the server (the test then
//! rejects it with 404 and ACKs, so no call is left behind), or `-` when nothing came back within
//! [`QUIET`] ([`INVITE_QUIET`] for an INVITE). [`CASES`] says which outcomes the RFCs allow, per
//! transport, and which deviations from them are known and tolerated for now (each with its
//! reason; the printed table marks them). Any other outcome fails the test, and so does a panic
//! in a gateway task, a gateway that no longer answers OPTIONS on either transport, or one that
//! no longer offers a valid INVITE to the server.
//!
//! The gateway is a UAS that only takes calls: it answers OPTIONS, offers INVITEs with a usable
//! audio offer, answers 481 to requests for dialogs it does not have, and 405 to the other
//! methods (REGISTER, MESSAGE). "What the RFC allows" is read with that in mind: e.g. a REGISTER
//! that a registrar would have to refuse with 400 may get 405 from an element that does not do
//! REGISTER at all (RFC 3261 §8.2.1 inspects the method first).
//!
//! `cargo test -p gateway --test it torture -- --nocapture` prints the tables.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use protocol::gateway::Event;
use tokio::time::Instant;

use crate::wire::{self, PATIENCE, QUIET, Read, TestGateway, Transport};

/// One message and the outcomes it may have, per transport.
struct Case {
    /// Path under `torture/`.
    file: &'static str,
    /// Section of RFC 4475 (`4475 3.1.1.1`) or RFC 5118 (`5118 4.1`).
    section: &'static str,
    /// RFC 4475's class (as in `rfc4475-sections.tsv`); for RFC 5118, `valid` or `invalid`.
    class: &'static str,
    udp: Expect,
    tcp: Expect,
    /// Why these outcomes; for a known deviation, what goes wrong and where.
    why: &'static str,
}

/// The outcomes the RFC allows, and those tolerated for now although it does not (known
/// deviations: each has its reason in [`Case::why`]; the table prints them as such).
#[derive(Clone, Copy)]
struct Expect {
    rfc: &'static [&'static str],
    known: &'static [&'static str],
}

const fn rfc(rfc: &'static [&'static str]) -> Expect {
    Expect { rfc, known: &[] }
}

const fn deviation(rfc: &'static [&'static str], known: &'static [&'static str]) -> Expect {
    Expect { rfc, known }
}

const fn case(file: &'static str, section: &'static str, class: &'static str, both: Expect, why: &'static str) -> Case {
    Case { file, section, class, udp: both, tcp: both, why }
}

/// Outcome notation: final codes in order, `Incoming` for an offered call (then rejected by the
/// test with 404), `-` for nothing at all.
const OFFERED: &str = "Incoming 404";
const NOTHING: &str = "-";

#[rustfmt::skip]
const CASES: &[Case] = &[
    // RFC 4475 §3.1.1: valid messages. They must be parsed and get a proper answer.
    case("rfc4475/wsinv.dat", "4475 3.1.1.1", "valid", deviation(&["481"], &[NOTHING]),
        "To-tagged INVITE for no dialog: 481. DEVIATION: rsipstack's parser does not see the \
         From tag written `tag = 98asjd8` (folded, LWS around `=`) and drops the request"),
    case("rfc4475/intmeth.dat", "4475 3.1.1.2", "valid", deviation(&["405", "501"], &[NOTHING]),
        "unknown method: 405/501. DEVIATION: rsipstack's Method has no extension methods, the \
         request does not parse and is dropped (TCP: the connection is closed)"),
    case("rfc4475/esc01.dat", "4475 3.1.1.3", "valid", rfc(&[OFFERED]), "INVITE offering PCMU"),
    case("rfc4475/escnull.dat", "4475 3.1.1.4", "valid", rfc(&["405"]), "REGISTER: not done here"),
    case("rfc4475/esc02.dat", "4475 3.1.1.5", "valid", deviation(&["405", "501"], &[NOTHING]),
        "RE%47IST%45R is an unknown method (not REGISTER): 405/501. DEVIATION: as intmeth"),
    case("rfc4475/lwsdisp.dat", "4475 3.1.1.6", "valid", rfc(&["200"]), "OPTIONS"),
    case("rfc4475/longreq.dat", "4475 3.1.1.7", "valid", rfc(&[OFFERED]), "INVITE offering PCMU"),
    Case { file: "rfc4475/dblreq.dat", section: "4475 3.1.1.8", class: "valid",
        udp: rfc(&["405"]),
        tcp: deviation(&["405 488"], &[NOTHING, "405"]),
        why: "UDP: the REGISTER only (405), the octets after its Content-Length are discarded. \
              TCP: the stream then holds CRLF and an INVITE whose SDP (`m =video`) is unusable \
              (488). DEVIATION (TCP): rsipstack's stream codec does not skip CRLF before a \
              start line (RFC 3261 §7.5) and closes the connection; the REGISTER's 405 is \
              usually lost with it" },
    case("rfc4475/semiuri.dat", "4475 3.1.1.9", "valid", rfc(&["200"]), "OPTIONS"),
    case("rfc4475/transports.dat", "4475 3.1.1.10", "valid", rfc(&["200"]), "OPTIONS"),
    case("rfc4475/mpart01.dat", "4475 3.1.1.11", "valid", rfc(&["405", "501"]), "MESSAGE: not done here"),
    case("rfc4475/unreason.dat", "4475 3.1.1.12", "valid", rfc(&[NOTHING]),
        "a response matching no transaction: dropped"),
    case("rfc4475/noreason.dat", "4475 3.1.1.13", "valid", rfc(&[NOTHING]),
        "a response matching no transaction: dropped"),
    // RFC 4475 §3.1.2: invalid messages. 400 or a silent drop; where the RFC lets an element be
    // liberal, also the answer the repaired message would get.
    case("rfc4475/badinv01.dat", "4475 3.1.2.1", "invalid", deviation(&["400", NOTHING], &[OFFERED]),
        "empty Via/Contact parameters: 400. DEVIATION: rsipstack's parser skips them and the \
         call is offered"),
    Case { file: "rfc4475/clerr.dat", section: "4475 3.1.2.2", class: "invalid",
        udp: rfc(&["400", NOTHING]),
        tcp: rfc(&[NOTHING]),
        why: "Content-Length beyond the datagram: 400 (RFC 3261 §18.3); on TCP the rest of the \
              body is still awaited" },
    case("rfc4475/ncl.dat", "4475 3.1.2.3", "invalid", rfc(&["400", NOTHING]),
        "negative Content-Length (TCP: the stream cannot be framed, the connection is closed)"),
    case("rfc4475/scalar02.dat", "4475 3.1.2.4", "invalid", rfc(&["400", NOTHING]), "CSeq beyond 2**32"),
    case("rfc4475/scalarlg.dat", "4475 3.1.2.5", "invalid", rfc(&[NOTHING]), "a response: dropped"),
    case("rfc4475/quotbal.dat", "4475 3.1.2.6", "invalid", deviation(&["400", NOTHING], &[OFFERED]),
        "unterminated quoted string in To: 400. DEVIATION: rsipstack's parser accepts it and \
         the call is offered"),
    case("rfc4475/ltgtruri.dat", "4475 3.1.2.7", "invalid", rfc(&["400", NOTHING, OFFERED]),
        "<> around the Request-URI; an element may ignore them"),
    case("rfc4475/lwsruri.dat", "4475 3.1.2.8", "invalid", rfc(&["400", NOTHING, "481"]),
        "LWS inside the Request-URI; ignoring it gives a To-tagged INVITE: 481"),
    case("rfc4475/lwsstart.dat", "4475 3.1.2.9", "invalid", rfc(&["400", NOTHING, OFFERED]),
        "several SP in the request line; an element may ignore them"),
    case("rfc4475/trws.dat", "4475 3.1.2.10", "invalid", rfc(&["400", NOTHING, "200"]),
        "SP at the end of the request line; an element may ignore them"),
    case("rfc4475/escruri.dat", "4475 3.1.2.11", "invalid", rfc(&["400", NOTHING, OFFERED]),
        "escaped headers in the Request-URI; an element may ignore them"),
    case("rfc4475/baddate.dat", "4475 3.1.2.12", "invalid", rfc(&["400", OFFERED]),
        "non-GMT Date: rejecting it is for elements that use Date"),
    case("rfc4475/regbadct.dat", "4475 3.1.2.13", "invalid", rfc(&["400", NOTHING, "405"]),
        "REGISTER with a bad Contact: a registrar's 400; here the method is refused first (§8.2.1)"),
    case("rfc4475/badaspec.dat", "4475 3.1.2.14", "invalid", rfc(&["400", NOTHING, "200"]),
        "spaces in an addr-spec; an element may ignore them"),
    case("rfc4475/baddn.dat", "4475 3.1.2.15", "invalid", rfc(&["400", NOTHING, "200"]),
        "unquoted display names with non-token characters; the quotes may be inferred"),
    case("rfc4475/badvers.dat", "4475 3.1.2.16", "invalid", rfc(&["505", "400", NOTHING]), "SIP/7.0"),
    case("rfc4475/mismatch01.dat", "4475 3.1.2.17", "invalid", rfc(&["400", NOTHING]),
        "OPTIONS with CSeq method INVITE"),
    case("rfc4475/mismatch02.dat", "4475 3.1.2.18", "invalid", rfc(&["501", "400", NOTHING]),
        "unknown method with CSeq method INVITE"),
    case("rfc4475/bigcode.dat", "4475 3.1.2.19", "invalid", rfc(&[NOTHING]), "status code > 699: dropped"),
    // RFC 4475 §3.2: transaction layer.
    case("rfc4475/badbranch.dat", "4475 3.2.1", "transaction", rfc(&["400", "200"]),
        "branch is the bare magic cookie: 400, or RFC 2543 matching"),
    // RFC 4475 §3.3: application layer.
    case("rfc4475/insuf.dat", "4475 3.3.1", "application", rfc(&["400", NOTHING]),
        "no Call-ID, From, To, Max-Forwards"),
    case("rfc4475/unkscm.dat", "4475 3.3.2", "application", rfc(&["416"]), "unknown Request-URI scheme"),
    case("rfc4475/novelsc.dat", "4475 3.3.3", "application", rfc(&["416", "404"]), "soap.beep Request-URI"),
    case("rfc4475/unksm2.dat", "4475 3.3.4", "application", rfc(&["400", "405"]),
        "REGISTER with isbn:/http: To/From: a registrar's 400, or the method refused"),
    case("rfc4475/bext01.dat", "4475 3.3.5", "application", rfc(&["420"]),
        "Require of unknown extensions: 420 with Unsupported"),
    case("rfc4475/invut.dat", "4475 3.3.6", "application", rfc(&["415"]),
        "INVITE with a body of unknown type: 415 with Accept"),
    case("rfc4475/regaut01.dat", "4475 3.3.7", "application", rfc(&["405"]), "REGISTER: not done here"),
    case("rfc4475/multi01.dat", "4475 3.3.8", "application", rfc(&["400", NOTHING]),
        "several values in single-value header fields"),
    case("rfc4475/mcl01.dat", "4475 3.3.9", "application", rfc(&["400", NOTHING]),
        "two Content-Length (TCP: framed by the first, the rest is garbage and closes the \
         connection, possibly before the 400 is written)"),
    case("rfc4475/bcast.dat", "4475 3.3.10", "application", rfc(&[NOTHING]), "a response: dropped"),
    case("rfc4475/zeromf.dat", "4475 3.3.11", "application", rfc(&["200"]),
        "Max-Forwards 0 only matters to proxies"),
    case("rfc4475/cparam01.dat", "4475 3.3.12", "application", rfc(&["405"]), "REGISTER: not done here"),
    case("rfc4475/cparam02.dat", "4475 3.3.13", "application", rfc(&["405"]), "REGISTER: not done here"),
    case("rfc4475/regescrt.dat", "4475 3.3.14", "application", rfc(&["405"]), "REGISTER: not done here"),
    case("rfc4475/sdp01.dat", "4475 3.3.15", "application", rfc(&["406", "400"]),
        "Accept without application/sdp: 406 (or 400)"),
    // RFC 4475 §3.4: backward compatibility.
    case("rfc4475/inv2543.dat", "4475 3.4.1", "backward-compat", deviation(&[OFFERED], &[NOTHING]),
        "RFC 2543 INVITE (no branch, no From tag, no Content-Length): offered. DEVIATION: \
         rsipstack's transaction key needs a From tag and the request is dropped"),
    // Not part of RFC 4475 (see README.md): no SIP version, a header line without a colon.
    case("rfc4475/test.dat", "-", "not-in-rfc", rfc(&["400", NOTHING]), "malformed request line"),
    // RFC 5118: IPv6 torture messages (the gateway is reached over IPv4 loopback; responses go to
    // the source address, `received`/`rport`). The three with SDP have a Content-Length that
    // counts LF line ends: the body is cut short by a few octets (harmless here), and on TCP the
    // excess octets precede the test's ACK, so the gateway closes the connection after it.
    case("rfc5118/ipv6-good", "5118 4.1", "valid", rfc(&["405"]), "REGISTER: not done here"),
    case("rfc5118/ipv6-bad", "5118 4.2", "invalid", deviation(&["400", NOTHING], &["405"]),
        "IPv6 reference without [] in the Request-URI: 400. DEVIATION (harmless): rsipstack's \
         parser reads it as host:port, and the REGISTER is refused with 405"),
    case("rfc5118/port-ambiguous", "5118 4.3", "valid", rfc(&["405"]), "REGISTER: not done here"),
    case("rfc5118/port-unambiguous", "5118 4.4", "valid", rfc(&["405"]), "REGISTER: not done here"),
    case("rfc5118/via-received-param-with-delim", "5118 4.5", "valid", rfc(&["481"]), "BYE for no dialog"),
    case("rfc5118/via-received-param-no-delim", "5118 4.5", "valid", rfc(&["200"]), "OPTIONS"),
    case("rfc5118/ipv6-in-sdp", "5118 4.6", "valid", rfc(&["488"]), "INVITE offering only G726"),
    case("rfc5118/mult-ip-in-header", "5118 4.7", "valid", rfc(&["481"]), "BYE for no dialog"),
    case("rfc5118/mult-ip-in-sdp", "5118 4.8", "valid", rfc(&[OFFERED]), "INVITE offering PCMU"),
    case("rfc5118/ipv4-mapped-ipv6", "5118 4.9", "valid", rfc(&["488"]), "INVITE offering only G726"),
    case("rfc5118/ipv6-bug-abnf-3-colons", "5118 4.10", "valid", deviation(&["200"], &[NOTHING]),
        "`[2001:db8:::192.0.2.1]` must be tolerated: 200. DEVIATION: rsipstack's parser \
         rejects the address and drops the request"),
    case("rfc5118/ipv6-correct-abnf-2-colons", "5118 4.10", "valid", rfc(&["200"]), "OPTIONS"),
];

fn torture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/torture")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Provisional(u16),
    Final(u16),
    Incoming,
}

#[derive(Debug, Default)]
struct Outcome {
    steps: Vec<Step>,
    /// The gateway closed the TCP connection.
    closed: bool,
}

impl Outcome {
    /// What is compared with [`Case`]: final codes and offers, in order.
    fn key(&self) -> String {
        let words: Vec<String> = self
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Provisional(_) => None,
                Step::Final(code) => Some(code.to_string()),
                Step::Incoming => Some("Incoming".to_string()),
            })
            .collect();
        if words.is_empty() { NOTHING.to_string() } else { words.join(" ") }
    }

    /// What is printed: everything, provisional codes in parentheses.
    fn shown(&self) -> String {
        let mut words: Vec<String> = self
            .steps
            .iter()
            .map(|s| match s {
                Step::Provisional(code) => format!("({code})"),
                Step::Final(code) => code.to_string(),
                Step::Incoming => "Incoming".to_string(),
            })
            .collect();
        if words.is_empty() {
            words.push(NOTHING.to_string());
        }
        if self.closed {
            words.push("[closed]".to_string());
        }
        words.join(" ")
    }
}

/// The Request-URI of a raw request (for the ACK), however oddly spaced.
fn request_uri(raw: &[u8]) -> String {
    let line = raw.split(|&b| b == b'\n').next().unwrap_or_default();
    String::from_utf8_lossy(line).split_whitespace().nth(1).unwrap_or("sip:invalid").to_string()
}

/// How long an INVITE without any final response yet is given before "nothing" is concluded:
/// its answer may come from the server's side (`Incoming`), a little later than a response.
const INVITE_QUIET: Duration = Duration::from_secs(1);

/// Sends `raw` from a fresh socket and records what comes back until [`QUIET`] passes with
/// nothing ([`INVITE_QUIET`] for an INVITE without a final response yet); an offered call is
/// rejected with 404 and waited for (up to [`PATIENCE`]), every final response to an INVITE is
/// ACKed.
async fn replay(tg: &mut TestGateway, transport: Transport, raw: &[u8]) -> Outcome {
    let mut client = tg.client(transport).await;
    let uri = request_uri(raw);
    let is_invite = raw.starts_with(b"INVITE ");
    client.send(raw).await;
    let mut out = Outcome::default();
    // Calls offered and rejected whose final response has not come yet.
    let mut awaiting_reject = 0usize;
    let give_up = Instant::now() + PATIENCE * 2;
    while Instant::now() < give_up {
        let final_seen = out.steps.iter().any(|s| matches!(s, Step::Final(_)));
        let wait = if awaiting_reject > 0 {
            PATIENCE
        } else if is_invite && !final_seen {
            INVITE_QUIET
        } else {
            QUIET
        };
        tokio::select! {
            read = client.read(), if !out.closed => match read {
                Read::Response(r) if r.code < 200 => out.steps.push(Step::Provisional(r.code)),
                Read::Response(r) => {
                    out.steps.push(Step::Final(r.code));
                    if r.cseq_method() == Some("INVITE") {
                        if r.code == 404 {
                            awaiting_reject = awaiting_reject.saturating_sub(1);
                        }
                        client.send(&wire::ack(&uri, &r)).await;
                    }
                }
                Read::Closed => out.closed = true,
            },
            event = tg.events.recv() => match event {
                Some(Event::Incoming { call_id, .. }) => {
                    out.steps.push(Step::Incoming);
                    awaiting_reject += 1;
                    tg.reject(&call_id, 404);
                }
                Some(_) => {}
                None => panic!("the gateway's event channel closed"),
            },
            _ = tokio::time::sleep(wait) => break,
        }
    }
    out
}

/// The table names every file of the corpus exactly once, and its RFC 4475 classes are the TSV's.
fn check_table() {
    let dir = torture_dir();
    let mut on_disk = BTreeSet::new();
    for sub in ["rfc4475", "rfc5118"] {
        for entry in std::fs::read_dir(dir.join(sub)).expect("the torture corpus is in the repository") {
            on_disk.insert(format!("{sub}/{}", entry.expect("a directory entry").file_name().to_string_lossy()));
        }
    }
    let in_table: BTreeSet<String> = CASES.iter().map(|c| c.file.to_string()).collect();
    assert_eq!(in_table.len(), CASES.len(), "a file is listed twice");
    assert_eq!(in_table, on_disk, "the table and the corpus differ");

    let tsv = std::fs::read_to_string(dir.join("rfc4475-sections.tsv")).expect("rfc4475-sections.tsv");
    for line in tsv.lines().filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [name, section, class] = cols[..] else { panic!("a TSV line of three columns: {line:?}") };
        let file = format!("rfc4475/{name}.dat");
        let case = CASES.iter().find(|c| c.file == file).unwrap_or_else(|| panic!("{file} is not in the table"));
        // The TSV names the group (3.1.1); the table the message's own section (3.1.1.1).
        let group = format!("4475 {section}");
        assert!(case.section == group || case.section.starts_with(&format!("{group}.")), "{file}: {section}");
        assert_eq!(case.class, class, "{file}");
    }
}

async fn torture(transport: Transport) {
    check_table();
    let mut tg = TestGateway::start().await;
    // The first call through a fresh gateway is the slowest (media set-up): take it before the
    // replay so that every message's answers come within its own window.
    let (_, warm_up) = wire::offer_and_reject(&mut tg, transport, 404).await;
    assert_eq!(warm_up.code, 404);
    let mut table = format!(
        "\nRFC 4475/5118 torture messages over {transport:?} (gateway {})\n{:<38} {:<14} {:<15} {:<28} {}\n",
        tg.gw.sip_addr, "message", "section", "class", "outcome", "verdict"
    );
    let mut wrong = Vec::new();
    for case in CASES {
        let raw = std::fs::read(torture_dir().join(case.file)).expect("a torture message");
        let outcome = replay(&mut tg, transport, &raw).await;
        let expect = match transport {
            Transport::Udp => case.udp,
            Transport::Tcp => case.tcp,
        };
        let key = outcome.key();
        let verdict = if expect.rfc.contains(&key.as_str()) {
            "ok".to_string()
        } else if expect.known.contains(&key.as_str()) {
            format!("KNOWN DEVIATION (RFC: {})", expect.rfc.join(" | "))
        } else {
            wrong.push(format!("{}: got {key:?}, the RFC allows {:?} ({})", case.file, expect.rfc, case.why));
            format!("WRONG (RFC: {})", expect.rfc.join(" | "))
        };
        table.push_str(&format!(
            "{:<38} {:<14} {:<15} {:<28} {verdict}\n",
            case.file,
            case.section,
            case.class,
            outcome.shown()
        ));
    }
    println!("{table}");

    // The gateway survived all of it: no task panicked, it still answers on both transports and
    // still offers a valid INVITE to the server, and no call was left behind.
    wire::assert_no_worker_panics();
    tg.assert_no_stray_incoming().await;
    tg.assert_no_calls_left().await;
    for t in [Transport::Udp, Transport::Tcp] {
        let pong = wire::ping(&tg, t).await;
        assert_eq!(pong.code, 200, "OPTIONS over {t:?} after the replay");
        let (_, response) = wire::offer_and_reject(&mut tg, t, 404).await;
        assert_eq!(response.code, 404, "a fresh INVITE over {t:?} after the replay");
    }
    tg.assert_no_calls_left().await;
    wire::assert_no_worker_panics();

    assert!(wrong.is_empty(), "outcomes the RFCs do not allow over {transport:?}:\n{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torture_over_udp() {
    torture(Transport::Udp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torture_over_tcp() {
    torture(Transport::Tcp).await;
}
