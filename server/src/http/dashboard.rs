//! The admin dashboard's reads and its one live action: call records searched, paged and
//! exported; the calls in progress and ending one; statistics; the audit log.

use std::collections::BTreeMap;

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use futures_util::StreamExt;
use protocol::api;

use super::{
    AppState,
    error::ApiError,
    extract::{AdminDownload, AdminUser, Json, Path, Query, paging},
};
use crate::{
    call::{CallId, EndCause, Input},
    domain::UserId,
    rating::Money,
    stats::{Bucket, Stats},
    storage::{Audit, AuditFilter, Cdr, CdrCursor, CdrFilter},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/cdrs", get(search))
        .route("/admin/cdrs.csv", get(export))
        .route("/admin/links", post(link))
        .route("/admin/live-calls", get(live_calls))
        .route("/admin/calls/{id}/end", post(end_call))
        .route("/admin/stats", get(stats))
        .route("/admin/audit", get(audit))
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// RFC 3339, or a date meaning its midnight (`end`: the next midnight, so the day is included).
fn instant(s: &str, end: bool) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| "must be a date (2026-12-31) or an RFC 3339 time".to_string())?;
    let day = if end { day.succ_opt().ok_or("is too far in the future")? } else { day };
    Ok(day.and_time(chrono::NaiveTime::MIN).and_utc())
}

/// A search's filter from its query, or every reason it is wrong, by field.
fn filter(q: &api::CdrQuery) -> Result<CdrFilter, ApiError> {
    let mut bad = BTreeMap::new();
    let mut f = CdrFilter::default();
    let given = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    if let Some(s) = given(&q.from) {
        f.from = instant(&s, false).map_err(|e| bad.insert("from".into(), e)).ok();
    }
    if let Some(s) = given(&q.to) {
        f.to = instant(&s, true).map_err(|e| bad.insert("to".into(), e)).ok();
    }
    if let (Some(from), Some(to)) = (f.from, f.to)
        && to <= from
    {
        bad.insert("to".into(), "must be after from".into());
    }
    f.user = q.user.map(UserId);
    if let Some(n) = given(&q.number) {
        let digits = n.strip_prefix('+').unwrap_or(&n);
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            bad.insert("number".into(), "must be digits of an international number, like +4420".into());
        } else {
            f.number_prefix = Some(format!("+{digits}"));
        }
    }
    f.carrier = q.carrier;
    if let Some(d) = given(&q.direction) {
        if ["webrtc", "pstn_out", "pstn_in"].contains(&d.as_str()) {
            f.kind = Some(d);
        } else {
            bad.insert("direction".into(), "must be webrtc, pstn_out or pstn_in".into());
        }
    }
    match given(&q.outcome).as_deref() {
        None => {}
        Some("answered") => f.answered = Some(true),
        Some("failed") => f.answered = Some(false),
        Some(_) => {
            bad.insert("outcome".into(), "must be answered or failed".into());
        }
    }
    if let Some(c) = given(&q.cause) {
        // Causes of the call machine, and the ones the shell writes (a restart, the sweeper).
        let known = EndCause::from_code(&c).is_some() || ["server_restart"].contains(&c.as_str());
        if known {
            f.cause = Some(c);
        } else {
            bad.insert("cause".into(), "is not an end cause (normal, busy, no_answer, …)".into());
        }
    }
    let money = |s: &Option<String>, field: &str, bad: &mut BTreeMap<String, String>| {
        let s = given(s)?;
        Money::parse(&s).map_err(|e| bad.insert(field.into(), e.to_string())).ok()
    };
    f.cost_min = money(&q.cost_min, "cost_min", &mut bad);
    f.cost_max = money(&q.cost_max, "cost_max", &mut bad);
    if let (Some(min), Some(max)) = (f.cost_min, f.cost_max)
        && max < min
    {
        bad.insert("cost_max".into(), "must not be less than cost_min".into());
    }
    if bad.is_empty() { Ok(f) } else { Err(ApiError::Validation(bad)) }
}

/// A page cursor as text: the last record's start and id.
fn cursor_text(c: &Cdr) -> String {
    format!("{}~{}", c.created_at.to_rfc3339_opts(SecondsFormat::Nanos, true), c.id)
}

fn cursor(s: &str) -> Result<CdrCursor, ApiError> {
    let bad = || ApiError::field("after", "is not a cursor this server gave");
    let (at, id) = s.split_once('~').ok_or_else(bad)?;
    let created_at = DateTime::parse_from_rfc3339(at).map_err(|_| bad())?.with_timezone(&Utc);
    if id.is_empty() || id.len() > 64 {
        return Err(bad());
    }
    Ok(CdrCursor { created_at, id: id.to_string() })
}

fn wire(c: Cdr) -> api::Cdr {
    api::Cdr {
        created_at: time(c.created_at),
        answered_at: c.answered_at.map(time),
        ended_at: c.ended_at.map(time),
        id: c.id,
        kind: c.kind,
        caller_id: c.caller.0,
        caller_email: c.caller_email,
        callee_id: c.callee.map(|u| u.0),
        callee_email: c.callee_email,
        number: c.number,
        carrier_id: c.carrier_id,
        carrier_name: c.carrier_name,
        end_cause: c.end_cause,
        sip_code: c.sip_code,
        billable_secs: c.billable_secs,
        charge_micros: c.charge.map(|m| m.0),
        buy_cost_micros: c.buy_cost.map(|m| m.0),
    }
}

async fn search(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Query(q): Query<api::CdrQuery>,
) -> Result<Json<api::CdrPage>, ApiError> {
    let f = filter(&q)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 200"));
    }
    let after = q.after.as_deref().filter(|s| !s.is_empty()).map(cursor).transpose()?;
    let (rows, more) = state.db.search_cdrs(&f, after.as_ref(), limit).await?;
    let next = if more { rows.last().map(cursor_text) } else { None };
    Ok(Json(api::CdrPage { items: rows.into_iter().map(wire).collect(), next }))
}

/// RFC 4180: quoted when it holds a comma, a quote or a line break; inner quotes doubled.
fn csv_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

const CSV_HEADER: &str = "id,kind,started_at,answered_at,ended_at,caller_id,caller_email,callee_id,callee_email,number,carrier,end_cause,sip_code,billable_secs,charge,cost\n";

fn csv_rows(rows: &[Cdr]) -> String {
    let mut out = String::with_capacity(rows.len() * 160);
    for c in rows {
        let opt = |v: Option<String>| v.unwrap_or_default();
        let fields = [
            c.id.clone(),
            c.kind.clone(),
            time(c.created_at),
            opt(c.answered_at.map(time)),
            opt(c.ended_at.map(time)),
            c.caller.0.to_string(),
            opt(c.caller_email.clone()),
            opt(c.callee.map(|u| u.0.to_string())),
            opt(c.callee_email.clone()),
            opt(c.number.clone()),
            opt(c.carrier_name.clone()),
            opt(c.end_cause.clone()),
            opt(c.sip_code.map(|s| s.to_string())),
            opt(c.billable_secs.map(|s| s.to_string())),
            opt(c.charge.map(|m| m.to_string())),
            opt(c.buy_cost.map(|m| m.to_string())),
        ];
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            csv_field(&mut out, f);
        }
        out.push('\n');
    }
    out
}

/// Every matching record as CSV, newest first, streamed page by page (constant memory).
async fn export(
    State(state): State<AppState>,
    AdminDownload(_): AdminDownload,
    Query(q): Query<api::CdrQuery>,
) -> Result<Response, ApiError> {
    let f = filter(&q)?;
    let header =
        futures_util::stream::once(async { Ok::<_, std::io::Error>(Bytes::from_static(CSV_HEADER.as_bytes())) });
    let rows = state.db.stream_cdrs(f, 2_000).map(|page| match page {
        Ok(rows) => Ok(Bytes::from(csv_rows(&rows))),
        Err(e) => {
            tracing::error!(error = %e, "CDR export failed part way");
            Err(std::io::Error::other(e.to_string()))
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"cdrs.csv\""),
        ],
        Body::from_stream(header.chain(rows)),
    )
        .into_response())
}

/// A signed link to one of the admin exports (its path and query), so that the browser
/// downloads the file itself, streamed to disk, instead of holding it in memory.
async fn link(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Json(req): Json<api::LinkRequest>,
) -> Result<Json<api::Link>, ApiError> {
    let path = req.path.trim();
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    let path = if query.is_empty() { route } else { path };
    let export = route.ends_with(".csv") || route.ends_with("/export");
    if path.len() > 2048
        || !route.starts_with("/api/admin/")
        || !export
        || query.split('&').any(|p| p.starts_with("link="))
    {
        return Err(ApiError::field(
            "path",
            "must be the path of an admin export, like /api/admin/cdrs.csv?number=%2B44",
        ));
    }
    // A bad search is refused now, with its reasons, not in a file the browser saves.
    if route == "/api/admin/cdrs.csv" {
        let uri: axum::http::Uri = path.parse().map_err(|_| ApiError::field("path", "is not a valid path"))?;
        let axum::extract::Query(q) = axum::extract::Query::<api::CdrQuery>::try_from_uri(&uri)
            .map_err(|e| ApiError::field("path", e.body_text()))?;
        filter(&q)?;
    }
    let now = u64::try_from(Utc::now().timestamp()).unwrap_or(0);
    let token = state.keys.issue_link(admin.id, path, now)?;
    let sep = if query.is_empty() { '?' } else { '&' };
    Ok(Json(api::Link { url: format!("{path}{sep}link={token}"), expires_in_secs: crate::auth::tokens::LINK_TTL_SECS }))
}

async fn live_calls(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
) -> Result<Json<Vec<api::LiveCall>>, ApiError> {
    Ok(Json(crate::signaling::live::snapshot(&state.hub, Utc::now()).await?))
}

/// Ends a call in progress; the record says which administrator did.
async fn end_call(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<api::CallEnded>, ApiError> {
    let input = Input::Terminate { cause: EndCause::EndedByAdmin, by: Some(admin.id) };
    if id.len() > 64 || !state.hub.route(&CallId(id.clone()), input) {
        return Err(ApiError::NotFound("no such call in progress (it may have ended)"));
    }
    let audit = Audit {
        actor: admin.id,
        action: "call.end",
        target: format!("call:{id}"),
        before: Some(r#"{"live":true}"#.into()),
        after: Some(r#"{"live":false,"end_cause":"ended_by_admin"}"#.into()),
    };
    state.db.audit(audit, Utc::now()).await?;
    tracing::info!(admin = %admin.id, call = %id, "call ended by an administrator");
    Ok(Json(api::CallEnded { call_id: id, ended_by: admin.id.0 }))
}

/// The longest period one statistics request covers, per bucket.
fn max_span(bucket: Bucket) -> Duration {
    match bucket {
        Bucket::Hour => Duration::days(31),
        Bucket::Day => Duration::days(366),
    }
}

async fn stats(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Query(q): Query<api::StatsQuery>,
) -> Result<Json<api::Stats>, ApiError> {
    let mut bad = BTreeMap::new();
    let given = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let bucket = match given(&q.bucket) {
        None => Some(Bucket::Day),
        Some(b) => Bucket::parse(&b).or_else(|| {
            bad.insert("bucket".into(), "must be hour or day".into());
            None
        }),
    };
    let now = Utc::now();
    let to = match given(&q.to) {
        None => Some(now),
        Some(s) => instant(&s, true).map_err(|e| bad.insert("to".into(), e)).ok(),
    };
    let from = match (given(&q.from), to) {
        (None, Some(to)) => Some(Bucket::Day.start(to - Duration::days(6))),
        (None, None) => None,
        (Some(s), _) => instant(&s, false).map_err(|e| bad.insert("from".into(), e)).ok(),
    };
    let (Some(bucket), Some(from), Some(to), true) = (bucket, from, to, bad.is_empty()) else {
        return Err(ApiError::Validation(bad));
    };
    if to <= from {
        return Err(ApiError::field("to", "must be after from"));
    }
    if to - from > max_span(bucket) {
        let days = max_span(bucket).num_days();
        return Err(ApiError::field(
            "from",
            format!("the period is too long for {}s: {days} days at most", bucket.as_str()),
        ));
    }
    let mut s = Stats::new(from, to, bucket);
    state.db.call_facts(from, to, |c| s.add_call(c)).await?;
    state.db.attempt_facts(from, to, |a| s.add_attempt(a)).await?;
    state.db.money_facts(from, to, |m| s.add_money(m)).await?;
    let r = s.finish();
    Ok(Json(api::Stats {
        from: time(r.from),
        to: time(r.to),
        bucket: r.bucket.as_str().into(),
        series: r
            .series
            .iter()
            .map(|(at, c)| api::StatsBucket { at: time(*at), calls: c.calls, answered: c.answered, seconds: c.seconds })
            .collect(),
        days: r
            .days
            .iter()
            .map(|(d, m)| api::MoneyDay {
                day: d.to_string(),
                revenue_micros: m.sales.revenue.0,
                cost_micros: m.sales.cost.0,
                margin_micros: m.sales.margin().0,
                topups_micros: m.topups.0,
                adjustments_micros: m.adjustments.0,
                charges_micros: m.charges.0,
            })
            .collect(),
        carriers: r
            .carriers
            .iter()
            .map(|c| api::CarrierStats {
                carrier_id: c.carrier_id,
                carrier_name: c.name.clone(),
                attempts: c.attempts,
                answered: c.answered,
                asr_permille: c.asr_permille(),
                acd_secs: c.acd_secs(),
                pdd_ms: c.pdd_ms(),
            })
            .collect(),
        destinations: r
            .destinations
            .iter()
            .map(|d| api::DestinationStats {
                prefix: d.prefix.clone(),
                calls: d.counts.calls,
                answered: d.counts.answered,
                seconds: d.counts.seconds,
                revenue_micros: d.sales.revenue.0,
                cost_micros: d.sales.cost.0,
                margin_micros: d.sales.margin().0,
            })
            .collect(),
        totals: api::StatsTotals {
            calls: r.counts.calls,
            answered: r.counts.answered,
            seconds: r.counts.seconds,
            revenue_micros: r.money.sales.revenue.0,
            cost_micros: r.money.sales.cost.0,
            margin_micros: r.money.sales.margin().0,
            topups_micros: r.money.topups.0,
            adjustments_micros: r.money.adjustments.0,
            charges_micros: r.money.charges.0,
        },
    }))
}

async fn audit(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Query(q): Query<api::AuditQuery>,
) -> Result<Json<api::Page<api::AuditEntry>>, ApiError> {
    let (page, per_page) = paging(q.page, q.per_page)?;
    let given = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let mut bad = BTreeMap::new();
    let action = given(&q.action);
    if action
        .as_ref()
        .is_some_and(|a| a.len() > 64 || !a.bytes().all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'))
    {
        bad.insert("action".into(), "must be an action like user.disable, or its start (user.)".into());
    }
    let target = given(&q.target);
    if target.as_ref().is_some_and(|t| t.len() > 128) {
        bad.insert("target".into(), "is too long".into());
    }
    if !bad.is_empty() {
        return Err(ApiError::Validation(bad));
    }
    let f = AuditFilter { action, target, actor: q.actor.map(UserId) };
    let (rows, total) = state.db.audit_log(&f, page, per_page).await?;
    let items = rows
        .into_iter()
        .map(|r| api::AuditEntry {
            id: r.id,
            actor_id: r.actor.map(|u| u.0),
            actor_email: r.actor_email,
            action: r.action,
            target: r.target,
            before: r.before,
            after: r.after,
            at: time(r.at),
        })
        .collect();
    Ok(Json(api::Page { items, total, page, per_page }))
}
