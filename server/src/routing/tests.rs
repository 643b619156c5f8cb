use std::collections::BTreeMap;

use expect_test::{Expect, expect};
use proptest::prelude::*;

use super::{
    deck::{MAX_ERRORS, Progress, parse_deck_with_progress},
    *,
};

// ---------------------------------------------------------------------------------------------
// Fixtures

/// A per-minute price with no fee, no minimum, billed per minute.
fn per_minute(price: &str) -> Tariff {
    Tariff::new(Money::parse(price).unwrap(), Money::ZERO, 0, 60, 60).unwrap()
}

/// One carrier per line: `name id [off] [open] [full] [asr=NNN]: prefix=price ...`.
fn carriers(fixture: &str) -> (PrefixIndex, Vec<CarrierState>) {
    let mut decks = Vec::new();
    let mut states = Vec::new();
    for line in fixture.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (head, rates) = line.split_once(':').unwrap();
        let mut words = head.split_whitespace();
        let name = words.next().unwrap().to_string();
        let id = CarrierId(words.next().unwrap().parse().unwrap());
        let mut state =
            CarrierState { id, name, enabled: true, circuit_open: false, at_capacity: false, asr_permille: None };
        for flag in words {
            match flag {
                "off" => state.enabled = false,
                "open" => state.circuit_open = true,
                "full" => state.at_capacity = true,
                _ => state.asr_permille = Some(flag.strip_prefix("asr=").unwrap().parse().unwrap()),
            }
        }
        let deck: Vec<(Prefix, Tariff)> = rates
            .split_whitespace()
            .map(|r| {
                let (p, price) = r.split_once('=').unwrap();
                (Prefix::parse(p).unwrap(), per_minute(price))
            })
            .collect();
        decks.push((id, deck));
        states.push(state);
    }
    (PrefixIndex::build(decks), states)
}

// ---------------------------------------------------------------------------------------------
// Deck import

#[track_caller]
fn check_deck(csv: &str, expect: Expect) {
    let mut rows = Vec::new();
    let result = parse_deck(csv.as_bytes(), |r| rows.push(r));
    let mut out: Vec<String> = rows
        .iter()
        .map(|r| {
            let t = &r.rate;
            format!(
                "{:<6} {:<18} {}/min fee {} min {}s {}/{}",
                r.prefix.to_string(),
                format!("{:?}", r.description),
                t.per_minute,
                t.connection_fee,
                t.min_duration,
                t.first_increment,
                t.next_increment
            )
        })
        .collect();
    match result {
        Ok(summary) => out.push(format!("ok: {} rows", summary.rows)),
        Err(errors) => out.push(format!("refused:\n{errors}")),
    }
    expect.assert_eq(&out.join("\n"));
}

#[test]
fn deck_good_file() {
    check_deck(
        "prefix,description,price_per_minute,connection_fee,min_duration,increment
44,United Kingdom,0.0125,0,0,60
+4420,\"London, fixed\",0.01,0.05,30,1
447,\"UK \"\"mobile\"\"\",0.025,0,0,60
  447700 , Ofcom drama , .5 ,0.,0, 6

",
        expect![[r#"
            44     "United Kingdom"   0.012500/min fee 0.000000 min 0s 60/60
            4420   "London, fixed"    0.010000/min fee 0.050000 min 30s 1/1
            447    "UK \"mobile\""    0.025000/min fee 0.000000 min 0s 60/60
            447700 "Ofcom drama"      0.500000/min fee 0.000000 min 0s 6/6
            ok: 4 rows"#]],
    );
}

#[test]
fn deck_first_and_next_increments_any_column_order_crlf_and_bom() {
    check_deck(
        "\u{feff}Next_Increment,PREFIX,first_increment,description,connection_fee,price_per_minute,min_duration\r\n\
         6,1212,30,USA,0,0.004,0\r\n\
         1,800,1,\"toll free,\r\nfree to buy\",0,0,0\r\n",
        expect![[r#"
            1212   "USA"              0.004000/min fee 0.000000 min 0s 30/6
            refused:
            line 3: description has a control character"#]],
    );
    check_deck(
        "\u{feff}Next_Increment,PREFIX,first_increment,description,connection_fee,price_per_minute,min_duration\r\n\
         6,1212,30,USA,0,0.004,0\r\n\
         1,800,1,\"toll free, zero\",0,0,0",
        expect![[r#"
            1212   "USA"              0.004000/min fee 0.000000 min 0s 30/6
            800    "toll free, zero"  0.000000/min fee 0.000000 min 0s 1/1
            ok: 2 rows"#]],
    );
}

#[test]
fn deck_bad_lines_are_reported_with_their_line_numbers() {
    check_deck(
        "prefix,description,price_per_minute,connection_fee,min_duration,increment
44,UK,0.01,0,0,60
44a,bad prefix,0.01,0,0,60
,empty prefix,0.01,0,0,60
1234567890123456,too long,0.01,0,0,60
44,repeat,0.01,0,0,60
45,short row,0.01,0,0

46,negative,-0.01,0,0,60
47,too precise,0.0000001,0,0,60
48,comma decimal,\"0,01\",0,0,60
49,negative fee,0,-1,0,60
50,min,0.01,0,-1,60
51,increment,0.01,0,0,0
52,long increment,0.01,0,0,3601
53,half second,0.01,0,0,1.5
54,stray \"quote,0.01,0,0,60
55,\"closed\" then text,0.01,0,0,60
56,\"\u{7}bell\",0.01,0,0,60
57,fine,0.01,0,0,60
58,\"never closed,0.01,0,0,60
",
        expect![[r#"
            44     "UK"               0.010000/min fee 0.000000 min 0s 60/60
            refused:
            line 3: prefix "44a" must be digits only
            line 4: prefix "" is empty
            line 5: prefix "1234567890123456" has more than 15 digits
            line 6: prefix 44 already appears on line 2
            line 7: has 5 fields, the header has 6
            line 9: price_per_minute "-0.01" is negative
            line 10: price_per_minute "0.0000001" has more than 6 decimal places
            line 11: price_per_minute "0,01" is not a decimal number like 12.50
            line 12: connection_fee "-1" is negative
            line 13: min_duration "-1" is not a whole number of seconds
            line 14: increment must be at least 1 second
            line 15: increment "3601" is more than 3600 seconds
            line 16: increment "1.5" is not a whole number of seconds
            line 17: a quote inside an unquoted field (quote the whole field, doubling inner quotes)
            line 18: text after a closing quote
            line 19: description has a control character
            line 21: a quoted field is never closed"#]],
    );
}

#[test]
fn deck_bad_headers() {
    check_deck(
        "",
        expect![[r#"
        refused:
        line 1: no header line (the first line names the columns)"#]],
    );
    check_deck(
        "\n\nprefix,description,price,connection_fee,min_duration,increment\n44,UK,0.01,0,0,60\n",
        expect![[r#"
            refused:
            line 3: unknown column "price" (the columns are prefix, description, price_per_minute, connection_fee, min_duration, and increment or first_increment and next_increment)"#]],
    );
    check_deck(
        "prefix,description,price_per_minute,connection_fee,min_duration,first_increment\n",
        expect![[r#"
            refused:
            line 1: missing column next_increment"#]],
    );
    check_deck(
        "prefix,description,price_per_minute,connection_fee,min_duration,increment,next_increment\n",
        expect![[r#"
            refused:
            line 1: has both increment and first_increment/next_increment: use one or the other"#]],
    );
    check_deck(
        "prefix,Prefix,description,price_per_minute,connection_fee,min_duration,increment\n",
        expect![[r#"
            refused:
            line 1: column prefix appears twice"#]],
    );
    check_deck(
        "prefix,description,price_per_minute,min_duration,increment\n",
        expect![[r#"
            refused:
            line 1: missing column connection_fee"#]],
    );
}

#[test]
fn deck_errors_stop_at_100_and_count_the_rest() {
    let mut csv = String::from("prefix,description,price_per_minute,connection_fee,min_duration,increment\n");
    for i in 0..250 {
        csv.push_str(&format!("{i}x,bad,0.01,0,0,60\n"));
    }
    let errors = parse_deck(csv.as_bytes(), |_| {}).unwrap_err();
    assert_eq!((errors.errors.len(), errors.more), (MAX_ERRORS, 150));
    assert_eq!(errors.errors[99].to_string(), r#"line 101: prefix "99x" must be digits only"#);
    assert!(errors.to_string().ends_with("\n… and 150 more"));
}

#[test]
fn deck_record_too_long_stops_reading() {
    let csv = format!(
        "prefix,description,price_per_minute,connection_fee,min_duration,increment\n44,\"{},0.01,0,0,60\n45,x,0.01,0,0,60\n",
        "a".repeat(5000)
    );
    check_deck(
        &csv,
        expect![[r#"
            refused:
            line 2: a record longer than 4096 bytes (a quote left open?); reading stopped"#]],
    );
}

#[test]
fn deck_progress_is_reported() {
    let rows: Vec<DeckRow> = (0..25_000u64)
        .map(|i| DeckRow {
            prefix: Prefix::parse(&format!("9{i}")).unwrap(),
            description: String::new(),
            rate: per_minute("0.01"),
        })
        .collect();
    let mut csv = Vec::new();
    write_deck(&rows, &mut csv).unwrap();
    let mut seen: Vec<Progress> = Vec::new();
    let summary = parse_deck_with_progress(csv.as_slice(), |_| {}, |p| seen.push(p)).unwrap();
    assert_eq!(summary.rows, 25_000);
    let records: Vec<u64> = seen.iter().map(|p| p.records).collect();
    assert_eq!(records, [10_000, 20_000, 25_000]);
    assert_eq!(seen.last().unwrap().bytes, csv.len() as u64);
}

#[test]
fn deck_writes_what_it_reads() {
    let mut rows = Vec::new();
    parse_deck(
        "prefix,description,price_per_minute,connection_fee,min_duration,first_increment,next_increment
4420,\"London, \"\"fixed\"\"\",0.01,0.05,30,30,6
1,,0,0,0,1,1
"
        .as_bytes(),
        |r| rows.push(r),
    )
    .unwrap();
    let mut out = Vec::new();
    write_deck(&rows, &mut out).unwrap();
    expect![[r#"
        prefix,description,price_per_minute,connection_fee,min_duration,first_increment,next_increment
        4420,"London, ""fixed""",0.010000,0.050000,30,30,6
        1,,0.000000,0.000000,0,1,1
    "#]]
    .assert_eq(&String::from_utf8(out).unwrap());
}

// ---------------------------------------------------------------------------------------------
// Lookup

/// Renders each number's matches as `carrier:prefix@price`.
#[track_caller]
fn check_lookup(fixture: &str, numbers: &str, expect: Expect) {
    let (index, _) = carriers(fixture);
    let rendered: Vec<String> = numbers
        .split_whitespace()
        .map(|n| {
            let found: Vec<String> =
                index.lookup(n).map(|m| format!("{}:{}@{}", m.carrier, m.prefix, m.tariff.per_minute)).collect();
            format!("{n:<16} → {}", if found.is_empty() { "-".to_string() } else { found.join(" ") })
        })
        .collect();
    expect.assert_eq(&rendered.join("\n"));
}

#[test]
fn lookup_longest_prefix_per_carrier() {
    check_lookup(
        "a 1: 44=0.010 447=0.020 4477=0.030
         b 2: 44=0.011 447700=0.050
         c 3: 1=0.001 447=0.019",
        "+447700900123 447712345678 442079460018 4 12125550100 +33142685300",
        expect![[r#"
            +447700900123    → 2:447700@0.050000 1:4477@0.030000 3:447@0.019000
            447712345678     → 1:4477@0.030000 3:447@0.019000 2:44@0.011000
            442079460018     → 1:44@0.010000 2:44@0.011000
            4                → -
            12125550100      → 3:1@0.001000
            +33142685300     → -"#]],
    );
}

#[test]
fn lookup_leading_zeros_and_odd_input() {
    check_lookup(
        "a 1: 0=0.1 00=0.2 044=0.3 123456789012345=0.4",
        "0 0044 044 44 123456789012345 1234567890123456 12a4 + ++0 -",
        expect![[r#"
            0                → 1:0@0.100000
            0044             → 1:00@0.200000
            044              → 1:044@0.300000
            44               → -
            123456789012345  → 1:123456789012345@0.400000
            1234567890123456 → -
            12a4             → -
            +                → -
            ++0              → -
            -                → -"#]],
    );
}

#[test]
fn prefixes_priced_alike_share_one_run() {
    let deck =
        |price: &'static str| (0..1000).map(move |n| (Prefix::parse(&format!("44{n:04}")).unwrap(), per_minute(price)));
    let index = PrefixIndex::build([
        (CarrierId(1), deck("1").collect::<Vec<_>>()),
        (CarrierId(2), deck("2").chain([(Prefix::parse("440999").unwrap(), per_minute("3"))]).collect()),
    ]);
    // 2,000 pairs; two runs: {1@1, 2@2} for 999 prefixes, {1@1, 2@3} for 440999.
    assert_eq!((index.len(), index.distinct_prefixes(), index.stored_entries()), (2000, 1000, 4));
    let found = |n: &str| -> Vec<String> {
        index.lookup(n).map(|m| format!("{}:{}@{}", m.carrier, m.prefix, m.tariff.per_minute)).collect()
    };
    assert_eq!(found("44012345"), ["1:440123@1.000000", "2:440123@2.000000"]);
    assert_eq!(found("4409991"), ["1:440999@1.000000", "2:440999@3.000000"]);
    assert!(found("4410000").is_empty());
}

#[test]
fn lookup_repeated_prefix_last_wins_and_decks_merge() {
    let t = |p: &str| (Prefix::parse(p).unwrap(), per_minute(p));
    let index = PrefixIndex::build([
        (CarrierId(7), vec![(Prefix::parse("44").unwrap(), per_minute("1")), t("447")]),
        (CarrierId(3), vec![t("4")]),
        (CarrierId(7), vec![(Prefix::parse("44").unwrap(), per_minute("2"))]),
    ]);
    let found: Vec<String> =
        index.lookup("4479").map(|m| format!("{}:{}@{}", m.carrier, m.prefix, m.tariff.per_minute)).collect();
    assert_eq!(found, ["7:447@447.000000", "3:4@4.000000"]);
    let found: Vec<String> =
        index.lookup("4412").map(|m| format!("{}:{}@{}", m.carrier, m.prefix, m.tariff.per_minute)).collect();
    assert_eq!(found, ["7:44@2.000000", "3:4@4.000000"]);
    assert_eq!((index.len(), index.distinct_prefixes(), index.distinct_tariffs()), (3, 3, 4));
    assert_eq!(index.carriers(), [CarrierId(3), CarrierId(7)]);
    assert!(PrefixIndex::default().lookup("44").next().is_none());
}

#[test]
fn prefixes_parse_and_sort_in_digit_order() {
    let parsed: Vec<String> = ["4420", " +0044 ", "+", "4 4", "1234567890123456", "123456789012345", "٤٤"]
        .iter()
        .map(|t| match Prefix::parse(t) {
            Ok(p) => format!("{t:?} → {p} ({} digits)", p.len()),
            Err(e) => format!("{t:?} → {e}"),
        })
        .collect();
    expect![[r#"
        "4420" → 4420 (4 digits)
        " +0044 " → 0044 (4 digits)
        "+" → is empty
        "4 4" → must be digits only
        "1234567890123456" → has more than 15 digits
        "123456789012345" → 123456789012345 (15 digits)
        "٤٤" → must be digits only"#]]
    .assert_eq(&parsed.join("\n"));
    let mut sorted: Vec<Prefix> =
        ["2", "10", "1", "0", "00", "100", "19", "999999999999999"].iter().map(|p| Prefix::parse(p).unwrap()).collect();
    sorted.sort();
    let sorted: Vec<String> = sorted.iter().map(Prefix::to_string).collect();
    assert_eq!(sorted, ["0", "00", "1", "10", "100", "19", "2", "999999999999999"]);
}

// ---------------------------------------------------------------------------------------------
// Selection

/// `policy` is `max=N` and optionally `loss`; `sell` is a price or `-` for none.
#[track_caller]
fn check_select(fixture: &str, number: &str, sell: &str, policy: &str, expect: Expect) {
    let (index, states) = carriers(fixture);
    let mut p = Policy::default();
    for word in policy.split_whitespace() {
        match word {
            "loss" => p.allow_loss = true,
            _ => p.max_attempts = word.strip_prefix("max=").unwrap().parse().unwrap(),
        }
    }
    let sell = (sell != "-").then(|| Money::parse(sell).unwrap());
    let selection = select(&index, number, sell, &states, &p);
    let routes: Vec<String> = selection.routes.iter().map(|r| format!("{}@{}", r.carrier, r.prefix)).collect();
    expect.assert_eq(&format!("{selection}\nroutes: {}", routes.join(", ")));
}

const CARRIERS: &str = "
    alpha 1 asr=520: 44=0.010 447=0.008
    beta 2 asr=610: 447=0.008
    gamma 3: 4477=0.008
    delta 4 off: 447=0.001
    eps 5 open: 44=0.002
    zeta 6 full: 44=0.003
    eta 7: 33=0.001
    theta 8 asr=999: 44=0.020
    iota 9: 4=0.009";

#[test]
fn selection_explains_every_carrier() {
    check_select(
        CARRIERS,
        "+447700900123",
        "0.015",
        "max=3",
        expect![[r#"
            delta [4] 447 0.001000/min: disabled
            eps [5] 44 0.002000/min: circuit open after recent failures
            zeta [6] 44 0.003000/min: at capacity (calls or calls per second)
            beta [2] 447 0.008000/min ASR 61.0%: route 1
            alpha [1] 447 0.008000/min ASR 52.0%: route 2
            gamma [3] 4477 0.008000/min: route 3
            iota [9] 4 0.009000/min: would be route 4, past the attempt limit
            theta [8] 44 0.020000/min ASR 99.9%: not profitable: buys at 0.020000, sells at 0.015000
            eta [7]: no prefix for this number
            routes: 2@447, 1@447, 3@4477"#]],
    );
}

#[test]
fn selection_margin_protection() {
    // Equal to the sell price is not profitable; below it is.
    check_select(
        CARRIERS,
        "442079460018",
        "0.009",
        "max=5",
        expect![[r#"
            eps [5] 44 0.002000/min: circuit open after recent failures
            zeta [6] 44 0.003000/min: at capacity (calls or calls per second)
            iota [9] 4 0.009000/min: not profitable: buys at 0.009000, sells at 0.009000
            alpha [1] 44 0.010000/min ASR 52.0%: not profitable: buys at 0.010000, sells at 0.009000
            theta [8] 44 0.020000/min ASR 99.9%: not profitable: buys at 0.020000, sells at 0.009000
            beta [2] ASR 61.0%: no prefix for this number
            gamma [3]: no prefix for this number
            delta [4]: disabled
            eta [7]: no prefix for this number
            routes: "#]],
    );
    check_select(
        CARRIERS,
        "442079460018",
        "-",
        "max=5",
        expect![[r#"
            eps [5] 44 0.002000/min: circuit open after recent failures
            zeta [6] 44 0.003000/min: at capacity (calls or calls per second)
            iota [9] 4 0.009000/min: not profitable: buys at 0.009000, no sell price
            alpha [1] 44 0.010000/min ASR 52.0%: not profitable: buys at 0.010000, no sell price
            theta [8] 44 0.020000/min ASR 99.9%: not profitable: buys at 0.020000, no sell price
            beta [2] ASR 61.0%: no prefix for this number
            gamma [3]: no prefix for this number
            delta [4]: disabled
            eta [7]: no prefix for this number
            routes: "#]],
    );
    check_select(
        CARRIERS,
        "442079460018",
        "-",
        "max=2 loss",
        expect![[r#"
            eps [5] 44 0.002000/min: circuit open after recent failures
            zeta [6] 44 0.003000/min: at capacity (calls or calls per second)
            iota [9] 4 0.009000/min: route 1
            alpha [1] 44 0.010000/min ASR 52.0%: route 2
            theta [8] 44 0.020000/min ASR 99.9%: would be route 3, past the attempt limit
            beta [2] ASR 61.0%: no prefix for this number
            gamma [3]: no prefix for this number
            delta [4]: disabled
            eta [7]: no prefix for this number
            routes: 9@4, 1@44"#]],
    );
}

#[test]
fn selection_with_no_match_or_no_carriers() {
    check_select(
        CARRIERS,
        "8613800138000",
        "1",
        "max=3",
        expect![[r#"
            alpha [1] ASR 52.0%: no prefix for this number
            beta [2] ASR 61.0%: no prefix for this number
            gamma [3]: no prefix for this number
            delta [4]: disabled
            eps [5]: no prefix for this number
            zeta [6]: no prefix for this number
            eta [7]: no prefix for this number
            theta [8] ASR 99.9%: no prefix for this number
            iota [9]: no prefix for this number
            routes: "#]],
    );
    check_select(
        "",
        "447700900123",
        "1",
        "max=3",
        expect![[r#"

        routes: "#]],
    );
}

// ---------------------------------------------------------------------------------------------
// Failover

#[test]
fn failover_default_policy_on_the_wire() {
    let p = FailoverPolicy::default();
    expect![[r#"
        408, 480, 500-599
        Failover { codes: [(408, 408), (480, 480), (500, 599)], trying_ms: 2000, ringing_ms: 0, on_transport_error: true }"#]]
    .assert_eq(&format!("{}\n{:?}", p.codes_text(), p.to_wire()));
    assert_eq!(p.to_wire(), protocol::gateway::Failover::default());
}

#[test]
fn failover_configured_codes() {
    let codes = FailoverPolicy::parse_codes(" 503 , 403-404,").unwrap();
    let p = FailoverPolicy { codes, ..FailoverPolicy::default() };
    assert_eq!(p.codes_text(), "503, 403-404");
    assert_eq!(p.to_wire().codes, vec![(503, 503), (403, 404)]);
    let bad: Vec<String> = ["200", "600-500", "5xx", "480-", "700"]
        .iter()
        .map(|t| FailoverPolicy::parse_codes(t).unwrap_err().to_string())
        .collect();
    expect![[r#"
        "200" is not a SIP final response code (300 to 699) or a range like 500-599
        "600-500" is not a SIP final response code (300 to 699) or a range like 500-599
        "5xx" is not a SIP final response code (300 to 699) or a range like 500-599
        "480-" is not a SIP final response code (300 to 699) or a range like 500-599
        "700" is not a SIP final response code (300 to 699) or a range like 500-599"#]]
    .assert_eq(&bad.join("\n"));
    assert_eq!(FailoverPolicy::parse_codes(""), Ok(vec![]));
}

// ---------------------------------------------------------------------------------------------
// Properties

/// Prefixes over a three-digit alphabet, so that decks overlap and nest.
fn small_prefix() -> impl Strategy<Value = String> {
    "[01]{1,9}"
}

/// Any tariff, or one of three, so that prefixes often share a run of (carrier, tariff) entries.
fn tariffs() -> impl Strategy<Value = Tariff> {
    let any = (0i64..100_000_000, 0i64..1_000_000, 0u32..=3600, 1u32..=3600, 1u32..=3600)
        .prop_map(|(p, f, m, a, b)| Tariff::new(Money(p), Money(f), m, a, b).unwrap());
    let few = (1i64..=3).prop_map(|p| Tariff::new(Money(p * 1000), Money::ZERO, 0, 60, 60).unwrap());
    prop_oneof![any, few]
}

/// Up to five carriers (ids may repeat: their decks merge), each a list of rows that may repeat
/// a prefix.
fn decks() -> impl Strategy<Value = Vec<(i64, Vec<(String, Tariff)>)>> {
    prop::collection::vec((0i64..5, prop::collection::vec((small_prefix(), tariffs()), 0..60)), 0..6)
}

proptest! {
    #[test]
    fn lookup_is_the_longest_prefix_per_carrier(
        decks in decks(),
        numbers in prop::collection::vec("[01]{0,11}", 1..20),
    ) {
        let index = PrefixIndex::build(decks.iter().map(|(c, rows)| {
            (CarrierId(*c), rows.iter().map(|(p, t)| (Prefix::parse(p).unwrap(), *t)).collect::<Vec<_>>())
        }));
        // What each carrier charges for each prefix, later rows winning.
        let mut model: BTreeMap<i64, BTreeMap<String, Tariff>> = BTreeMap::new();
        for (c, rows) in &decks {
            for (p, t) in rows {
                model.entry(*c).or_default().insert(p.clone(), *t);
            }
        }
        for number in &numbers {
            let mut expected: Vec<(usize, i64, String, Tariff)> = model
                .iter()
                .filter_map(|(c, deck)| {
                    deck.iter()
                        .filter(|(p, _)| number.starts_with(p.as_str()))
                        .max_by_key(|(p, _)| p.len())
                        .map(|(p, t)| (usize::MAX - p.len(), *c, p.clone(), *t))
                })
                .collect();
            expected.sort_by_key(|a| (a.0, a.1));
            let expected: Vec<(i64, String, Tariff)> = expected.into_iter().map(|(_, c, p, t)| (c, p, t)).collect();
            let actual: Vec<(i64, String, Tariff)> =
                index.lookup(number).map(|m| (m.carrier.0, m.prefix.to_string(), *m.tariff)).collect();
            prop_assert_eq!(actual, expected, "number {:?}", number);
        }
    }

    #[test]
    fn decks_round_trip_through_csv(
        rows in prop::collection::btree_map("[0-9]{1,15}", ("[ -~éü,\"]{0,40}", tariffs()), 0..50),
    ) {
        let rows: Vec<DeckRow> = rows
            .into_iter()
            .map(|(p, (d, rate))| DeckRow { prefix: Prefix::parse(&p).unwrap(), description: d.trim().to_string(), rate })
            .collect();
        let mut csv = Vec::new();
        write_deck(&rows, &mut csv).unwrap();
        let mut back = Vec::new();
        let summary = parse_deck(csv.as_slice(), |r| back.push(r));
        prop_assert_eq!(summary.map(|s| s.rows), Ok(rows.len() as u64));
        prop_assert_eq!(back, rows);
    }

    #[test]
    fn selection_is_cheapest_first_and_never_at_a_loss(
        decks in decks(),
        number in "[012]{0,9}",
        sell in prop::option::of(0i64..100_000_000),
        flags in prop::collection::vec((any::<bool>(), any::<bool>(), any::<bool>(), prop::option::of(0u16..=1000)), 5),
        allow_loss in any::<bool>(),
        max_attempts in 0usize..6,
    ) {
        let index = PrefixIndex::build(decks.iter().map(|(c, rows)| {
            (CarrierId(*c), rows.iter().map(|(p, t)| (Prefix::parse(p).unwrap(), *t)).collect::<Vec<_>>())
        }));
        let states: Vec<CarrierState> = flags
            .iter()
            .enumerate()
            .map(|(i, &(enabled, circuit_open, at_capacity, asr_permille))| CarrierState {
                id: CarrierId(i as i64),
                name: format!("c{i}"),
                enabled,
                circuit_open,
                at_capacity,
                asr_permille,
            })
            .collect();
        let sell = sell.map(Money);
        let s = select(&index, &number, sell, &states, &Policy { allow_loss, max_attempts });

        prop_assert!(s.routes.len() <= max_attempts);
        prop_assert_eq!(s.verdicts.len(), states.len());
        for pair in s.routes.windows(2) {
            prop_assert!(pair[0].tariff.per_minute <= pair[1].tariff.per_minute);
        }
        for r in &s.routes {
            if !allow_loss {
                prop_assert!(sell.is_some_and(|sell| r.tariff.per_minute < sell));
            }
            let state = &states[r.carrier.0 as usize];
            prop_assert!(state.enabled && !state.circuit_open && !state.at_capacity);
        }
        // Chosen verdicts are exactly the routes, ranked 1, 2, …
        let chosen: Vec<(usize, CarrierId)> = s.verdicts.iter().filter_map(|v| match v.outcome {
            Outcome::Chosen { rank } => Some((rank, v.carrier)),
            _ => None,
        }).collect();
        let expected: Vec<(usize, CarrierId)> = s.routes.iter().enumerate().map(|(i, r)| (i + 1, r.carrier)).collect();
        prop_assert_eq!(chosen, expected);
    }
}
