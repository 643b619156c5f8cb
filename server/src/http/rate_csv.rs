//! Retail rate plans as CSV files, in the same format as carriers' buy decks
//! (`routing::deck`): `POST /api/admin/rate-plans/{id}/rates.csv?effective_from=` imports a whole
//! file (validated first; any error refuses it, with each line's reason; nothing is written),
//! `GET /api/admin/rate-plans/{id}/rates.csv?at=` exports the rates in effect.

use std::collections::BTreeMap;

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use chrono::{DateTime, Utc};
use protocol::api;
use serde::Deserialize;

use super::{
    AppState,
    error::ApiError,
    extract::{AdminDownload, AdminUser, Json, Path, Query},
};
use crate::{
    rating::Money,
    routing::{DeckRow, Prefix, parse_deck, write_deck},
    storage::ImportRefused,
};

/// A retail file is read whole; plans are small next to carriers' decks.
const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/rate-plans/{id}/rates.csv", get(export).post(import))
        .layer(DefaultBodyLimit::max(MAX_FILE_BYTES))
}

#[derive(Deserialize)]
struct ImportParams {
    effective_from: Option<String>,
}

#[derive(Deserialize)]
struct ExportParams {
    at: Option<String>,
}

/// A time from a query parameter (RFC 3339); now when absent.
pub(super) fn when(field: &str, text: Option<&str>) -> Result<DateTime<Utc>, ApiError> {
    match text {
        None => Ok(Utc::now()),
        Some(t) => DateTime::parse_from_rfc3339(t)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|_| ApiError::field(field, "must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z")),
    }
}

async fn import(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Query(params): Query<ImportParams>,
    body: Bytes,
) -> Result<(StatusCode, Json<api::RatesImported>), ApiError> {
    let from = when("effective_from", params.effective_from.as_deref())?;
    let mut rows = vec![];
    let parsed = parse_deck(&body[..], |r: DeckRow| rows.push(r));
    let mut fields = match parsed {
        Err(errors) => line_reasons(&errors),
        Ok(_) => BTreeMap::new(),
    };
    // What a buy deck allows and a price list does not: selling for nothing.
    for r in rows.iter().filter(|r| r.rate.per_minute == Money::ZERO) {
        fields.insert(format!("prefix {}", r.prefix), "price_per_minute must be more than zero".into());
    }
    if !fields.is_empty() {
        return Err(ApiError::Validation(fields));
    }
    if rows.is_empty() {
        return Err(ApiError::field("file", "has no rates"));
    }
    let rows: Vec<_> = rows.into_iter().map(|r| (r.prefix.to_string(), r.description, r.rate)).collect();
    match state.db.import_retail_rates(admin.id, id, &rows, from, Utc::now()).await? {
        Ok(n) => Ok((StatusCode::CREATED, Json(api::RatesImported { rows: n, effective_from: from.to_rfc3339() }))),
        Err(ImportRefused::NoSuchPlan) => Err(ApiError::NotFound("no such rate plan")),
        Err(ImportRefused::Overlaps(clashes)) => {
            let fields = clashes
                .into_iter()
                .map(|(prefix, rate)| {
                    (format!("prefix {prefix}"), format!("rate {rate} overlaps {}", from.to_rfc3339()))
                })
                .collect();
            Err(ApiError::Conflicts(
                "these prefixes have rates starting on or after the file's date; end or remove them first".into(),
                fields,
            ))
        }
    }
}

/// A refused file's errors as the error body's `fields`: `"line N": reason`, and a count of
/// the rest.
pub(super) fn line_reasons(errors: &crate::routing::DeckErrors) -> BTreeMap<String, String> {
    let mut fields: BTreeMap<String, String> =
        errors.errors.iter().map(|e| (format!("line {}", e.line), e.kind.to_string())).collect();
    if errors.more > 0 {
        fields.insert("more".into(), format!("{} more errors", errors.more));
    }
    fields
}

async fn export(
    State(state): State<AppState>,
    AdminDownload(_): AdminDownload,
    Path(id): Path<i64>,
    Query(params): Query<ExportParams>,
) -> Result<impl IntoResponse, ApiError> {
    let at = when("at", params.at.as_deref())?;
    let rates = state.db.retail_rates_at(id, at).await?.ok_or(ApiError::NotFound("no such rate plan"))?;
    let rows: Vec<DeckRow> = rates
        .into_iter()
        .filter_map(|r| {
            Some(DeckRow { prefix: r.prefix.parse::<Prefix>().ok()?, description: r.description, rate: r.tariff })
        })
        .collect();
    let mut out = Vec::new();
    write_deck(&rows, &mut out).map_err(|e| ApiError::Internal(e.into()))?;
    let disposition = format!("attachment; filename=\"rate-plan-{id}.csv\"");
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)],
        out,
    ))
}
