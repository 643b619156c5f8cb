//! Carriers' buy rate decks (admin): streaming CSV import with progress, versions, export, and
//! the route simulator.
//!
//! Import (`POST /api/admin/carriers/{id}/decks?effective_from=`, body `text/csv`): the body is
//! streamed to a file in the data directory (never held in memory), read once to check every
//! line (`routing::deck`; any error refuses the whole file, 422 with each line's reason), then
//! read again into the database in one transaction, in batches. The routing table is rebuilt
//! in the background and swapped in; calls keep using the old one meanwhile. Progress is at
//! `GET /api/admin/deck-imports/{job}` (the job id is in the `X-Import-Job` response header, and
//! in the listing).

use std::{
    collections::HashMap,
    io::BufReader,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{DefaultBodyLimit, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use protocol::api;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::{
    AppState,
    error::ApiError,
    extract::{AdminDownload, AdminUser, Json, Path, Query},
};
use crate::{
    number::E164,
    routing::{self, DeckRow, Outcome, deck::parse_deck_with_progress, write_deck},
    storage::DeckInfo,
};

/// The largest deck file accepted (a million rows is about 50 MB).
const MAX_DECK_BYTES: u64 = 512 * 1024 * 1024;
const BATCH: usize = 2_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/carriers/{id}/decks", get(list).post(import))
        .route("/admin/carriers/{id}/decks/{deck}/export", get(export))
        .route("/admin/deck-imports", get(jobs))
        .route("/admin/deck-imports/{job}", get(job))
        .route("/admin/routes/simulate", get(simulate))
        .layer(DefaultBodyLimit::disable())
}

/// Imports in progress and recent ones, in memory.
#[derive(Default)]
pub struct ImportJobs {
    next: AtomicU64,
    jobs: Mutex<HashMap<u64, api::DeckImport>>,
}

impl ImportJobs {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn start(&self, carrier_id: i64) -> u64 {
        let job = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        // Keep the last hundred.
        if jobs.len() >= 100
            && let Some(oldest) = jobs.keys().min().copied()
        {
            jobs.remove(&oldest);
        }
        jobs.insert(
            job,
            api::DeckImport {
                job,
                carrier_id,
                state: "receiving".into(),
                bytes: 0,
                rows_checked: 0,
                rows_written: 0,
                deck: None,
            },
        );
        job
    }

    fn update(&self, job: u64, f: impl FnOnce(&mut api::DeckImport)) {
        if let Some(j) = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&job) {
            f(j);
        }
    }

    fn get(&self, job: u64) -> Option<api::DeckImport> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).get(&job).cloned()
    }
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn to_wire(d: &DeckInfo, active: bool) -> api::Deck {
    api::Deck {
        id: d.id,
        carrier_id: d.carrier_id,
        effective_from: rfc(d.effective_from),
        created_at: rfc(d.created_at),
        rows: d.rows,
        active,
    }
}

#[derive(Deserialize)]
struct ImportParams {
    effective_from: Option<String>,
}

/// Deletes the spooled upload whatever happens.
struct Spool(PathBuf);

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn import(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(carrier): Path<i64>,
    Query(params): Query<ImportParams>,
    body: Body,
) -> Result<Response, ApiError> {
    let from = super::rate_csv::when("effective_from", params.effective_from.as_deref())?;
    if state.db.decks_of(carrier).await?.is_empty() && !state.db.list_carriers().await?.iter().any(|c| c.id == carrier)
    {
        return Err(ApiError::NotFound("no such carrier"));
    }
    let jobs = state.deck_jobs.clone();
    let job = jobs.start(carrier);
    let result = import_job(&state, admin.id, carrier, from, body, job).await;
    jobs.update(job, |j| {
        j.state = match &result {
            Ok(_) => "done",
            Err(ApiError::Validation(_)) => "refused",
            Err(_) => "failed",
        }
        .into()
    });
    let deck = result?;
    let active = deck.effective_from <= Utc::now();
    let wire = to_wire(&deck, active);
    jobs.update(job, |j| j.deck = Some(wire.clone()));
    state.rebuild_routes.notify_one();
    let mut response = (StatusCode::CREATED, Json(wire)).into_response();
    response.headers_mut().insert("x-import-job", job.into());
    Ok(response)
}

async fn import_job(
    state: &AppState,
    admin: crate::domain::UserId,
    carrier: i64,
    from: DateTime<Utc>,
    body: Body,
    job: u64,
) -> Result<DeckInfo, ApiError> {
    let jobs = state.deck_jobs.clone();
    // 1. Spool the body to a file.
    let dir = state.settings.data_dir.join("imports");
    tokio::fs::create_dir_all(&dir).await.map_err(|e| ApiError::Internal(e.into()))?;
    let spool = Spool(dir.join(format!("deck-{}-{job}.csv", std::process::id())));
    let mut file = tokio::fs::File::create(&spool.0).await.map_err(|e| ApiError::Internal(e.into()))?;
    let mut stream = body.into_data_stream();
    let mut bytes = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk: Bytes = chunk.map_err(|e| ApiError::BadRequest(format!("the upload broke off: {e}")))?;
        bytes += chunk.len() as u64;
        if bytes > MAX_DECK_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        file.write_all(&chunk).await.map_err(|e| ApiError::Internal(e.into()))?;
        jobs.update(job, |j| j.bytes = bytes);
    }
    file.flush().await.map_err(|e| ApiError::Internal(e.into()))?;
    drop(file);

    // 2. Check every line; nothing is written unless all are good.
    jobs.update(job, |j| j.state = "checking".into());
    let path = spool.0.clone();
    let progress = jobs.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let f = std::fs::File::open(&path)?;
        Ok::<_, std::io::Error>(parse_deck_with_progress(
            BufReader::with_capacity(1 << 16, f),
            |_| {},
            |p| progress.update(job, |j| j.rows_checked = p.records),
        ))
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?
    .map_err(|e| ApiError::Internal(e.into()))?;
    let summary = match checked {
        Ok(s) => s,
        Err(errors) => return Err(ApiError::Validation(super::rate_csv::line_reasons(&errors))),
    };
    if summary.rows == 0 {
        return Err(ApiError::field("file", "has no rates"));
    }

    // 3. Read it again into one transaction, batch by batch.
    jobs.update(job, |j| j.state = "writing".into());
    let now = Utc::now();
    let mut writer =
        state.db.begin_deck(carrier, from, admin, now).await?.ok_or(ApiError::NotFound("no such carrier"))?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<DeckRow>>(4);
    let path = spool.0.clone();
    let reader = tokio::task::spawn_blocking(move || {
        let f = std::fs::File::open(&path)?;
        let mut batch = Vec::with_capacity(BATCH);
        let _ = parse_deck_with_progress(
            BufReader::with_capacity(1 << 16, f),
            |row| {
                batch.push(row);
                if batch.len() == BATCH {
                    let _ = tx.blocking_send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
                }
            },
            |_| {},
        );
        if !batch.is_empty() {
            let _ = tx.blocking_send(batch);
        }
        Ok::<_, std::io::Error>(())
    });
    let mut written = 0u64;
    while let Some(batch) = rx.recv().await {
        writer.write(&batch).await?;
        written += batch.len() as u64;
        jobs.update(job, |j| j.rows_written = written);
    }
    reader.await.map_err(|e| ApiError::Internal(e.into()))?.map_err(|e| ApiError::Internal(e.into()))?;
    if written != summary.rows {
        return Err(ApiError::Internal(anyhow::anyhow!("the file changed while importing")));
    }
    Ok(writer.commit(admin, Utc::now()).await?)
}

async fn list(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(carrier): Path<i64>,
) -> Result<Json<Vec<api::Deck>>, ApiError> {
    if !state.db.list_carriers().await?.iter().any(|c| c.id == carrier) {
        return Err(ApiError::NotFound("no such carrier"));
    }
    let active: Vec<i64> = state.routes.get().decks.iter().map(|(_, d)| *d).collect();
    let decks = state.db.decks_of(carrier).await?;
    Ok(Json(decks.iter().map(|d| to_wire(d, active.contains(&d.id))).collect()))
}

async fn jobs(State(state): State<AppState>, AdminUser(_): AdminUser) -> Json<Vec<api::DeckImport>> {
    let mut all: Vec<_> = state.deck_jobs.jobs.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
    all.sort_by_key(|j| std::cmp::Reverse(j.job));
    Json(all)
}

async fn job(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(job): Path<u64>,
) -> Result<Json<api::DeckImport>, ApiError> {
    state.deck_jobs.get(job).map(Json).ok_or(ApiError::NotFound("no such import"))
}

/// The deck as CSV, streamed page by page (keyset on the prefix).
async fn export(
    State(state): State<AppState>,
    AdminDownload(_): AdminDownload,
    Path((carrier, deck)): Path<(i64, i64)>,
) -> Result<Response, ApiError> {
    state.db.deck(carrier, deck).await?.ok_or(ApiError::NotFound("no such deck"))?;
    let db = state.db.clone();
    let pages = futures_util::stream::unfold(Some((None::<String>, true)), move |cursor| {
        let db = db.clone();
        async move {
            let (after, first) = cursor?;
            let rows = match db.deck_rows_after(deck, after.as_deref(), 10_000).await {
                Ok(rows) => rows,
                Err(e) => return Some((Err(std::io::Error::other(e.to_string())), None)),
            };
            if rows.is_empty() && !first {
                return None;
            }
            let mut out = Vec::new();
            if let Err(e) = write_deck(&rows, &mut out) {
                return Some((Err(e), None));
            }
            if !first {
                // `write_deck` writes the header each time: only the first page keeps it.
                let skip = out.iter().position(|b| *b == b'\n').map_or(out.len(), |i| i + 1);
                out.drain(..skip);
            }
            let next = rows.last().map(|r| (Some(r.prefix.to_string()), false));
            Some((Ok::<_, std::io::Error>(Bytes::from(out)), next))
        }
    });
    let disposition = format!("attachment; filename=\"carrier-{carrier}-deck-{deck}.csv\"");
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)],
        Body::from_stream(pages),
    )
        .into_response())
}

#[derive(Deserialize)]
struct SimulateParams {
    number: String,
    user_id: Option<i64>,
}

/// What routing would do for a number dialled by a user (by default, on the default plan).
async fn simulate(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(p): Query<SimulateParams>,
) -> Result<Json<api::RouteSimulation>, ApiError> {
    let user = crate::domain::UserId(p.user_id.unwrap_or(admin.id.0));
    let number =
        E164::parse(&p.number, None).map_err(|e| ApiError::field("number", format!("is not a number: {e}")))?;
    let digits = number.as_str().trim_start_matches('+').to_string();
    let sell = state.db.retail_rate_for(user, &digits, Utc::now()).await?;
    let sim = crate::lcr::plan(
        &state.db,
        &state.routes,
        &state.rules,
        &state.hub.carrier_load(),
        &digits,
        sell.as_ref().map(|s| s.tariff.per_minute),
    )
    .await?;
    let verdicts: Vec<api::RouteVerdict> = sim.verdicts.iter().map(verdict).collect();
    let routes = verdicts.iter().filter(|v| v.outcome == "chosen").cloned().collect();
    Ok(Json(api::RouteSimulation {
        number: number.as_str().to_string(),
        sell: sell.as_ref().map(super::rates::to_wire),
        routes,
        verdicts,
    }))
}

fn verdict(v: &routing::Verdict) -> api::RouteVerdict {
    let (outcome, rank) = match v.outcome {
        Outcome::Chosen { rank } => ("chosen", Some(rank as u32)),
        Outcome::Disabled => ("disabled", None),
        Outcome::NoPrefix => ("no_prefix", None),
        Outcome::CircuitOpen => ("circuit_open", None),
        Outcome::AtCapacity => ("at_capacity", None),
        Outcome::NotProfitable { .. } => ("not_profitable", None),
        Outcome::BeyondMaxAttempts { rank } => ("beyond_max_attempts", Some(rank as u32)),
    };
    api::RouteVerdict {
        carrier_id: v.carrier.0,
        carrier_name: v.name.clone(),
        prefix: v.matched.map(|(p, _)| p.to_string()),
        buy_per_minute_micros: v.matched.map(|(_, t)| t.per_minute.0),
        outcome: outcome.into(),
        rank,
        explanation: v.outcome.to_string(),
    }
}
