//! Administration of the telephone network side: carriers (SIP trunks) and DIDs. Every route
//! here takes `AdminUser`, so users get 403. Carrier passwords are write-only.

use std::collections::BTreeMap;

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    routing::{delete, get},
};
use chrono::{SecondsFormat, Utc};
use protocol::api;

use super::{
    AppState,
    error::ApiError,
    extract::{AdminUser, Json, Path, Query, paging},
};
use crate::{
    carrier::{self, CallerIdPolicy, Carrier, CarrierSpec, Gateway, PasswordChange, Transport},
    config::Secret,
    domain::UserId,
    number::{E164, NumberError},
    storage::{CarrierUpdateError, DidEntry, DidRefused},
};

/// Most inbound networks one carrier may list.
const INBOUND_MAX: usize = 64;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/carriers", get(list_carriers).post(create_carrier))
        .route("/admin/carriers/{id}", get(get_carrier).put(update_carrier).delete(delete_carrier))
        .route("/admin/dids", get(list_dids).post(create_did))
        .route("/admin/dids/{id}", delete(delete_did))
}

fn time(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn to_wire(c: &Carrier) -> api::Carrier {
    api::Carrier {
        id: c.id,
        name: c.name.clone(),
        enabled: c.enabled,
        username: c.username.clone(),
        has_password: c.password.is_some(),
        from_domain: c.from_domain.clone(),
        caller_id_policy: match c.caller_id {
            CallerIdPolicy::UserDid { .. } => api::CallerIdPolicy::UserDid,
            CallerIdPolicy::Fixed(_) => api::CallerIdPolicy::Fixed,
            CallerIdPolicy::Anonymous => api::CallerIdPolicy::Anonymous,
        },
        caller_id_number: c.caller_id.number().map(|n| n.as_str().to_string()),
        strip_prefix: c.strip_prefix.clone(),
        prepend: c.prepend.clone(),
        inbound_cidrs: c.inbound.iter().map(ToString::to_string).collect(),
        gateways: c
            .gateways
            .iter()
            .map(|g| api::CarrierGateway {
                host: g.host.clone(),
                port: u32::from(g.port),
                transport: match g.transport {
                    Transport::Udp => api::Transport::Udp,
                    Transport::Tcp => api::Transport::Tcp,
                },
                priority: u32::from(g.priority),
                weight: u32::from(g.weight),
            })
            .collect(),
        max_calls: c.max_calls,
        max_cps: c.max_cps,
        register: c.register,
        register_expires: c.register_expires,
        created_at: time(c.created_at),
        updated_at: time(c.updated_at),
    }
}

/// Records the reason under `field` and gives `None` when `r` failed.
fn take<T, E: ToString>(fields: &mut BTreeMap<String, String>, field: &str, r: Result<T, E>) -> Option<T> {
    r.map_err(|e| fields.insert(field.to_string(), e.to_string())).ok()
}

/// Trimmed, and `None` when empty.
fn given(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// A number an administrator typed: international format only.
fn international(raw: &str) -> Result<E164, String> {
    E164::parse(raw, None).map_err(|e| match e {
        NumberError::NeedsCountry => "must start with + and the country code".to_string(),
        other => other.to_string(),
    })
}

/// Every field checked; all the reasons at once.
fn spec_from(req: &api::CarrierInput) -> Result<CarrierSpec, ApiError> {
    let mut fields = BTreeMap::new();
    let f = &mut fields;
    let name = take(f, "name", carrier::parse_name(&req.name));
    let username = match given(req.username.as_deref()) {
        None => Some(None),
        Some(u) => take(f, "username", carrier::parse_credential(u, false)).map(Some),
    };
    let password = match req.password.as_deref() {
        None => Some(PasswordChange::Keep),
        Some("") => Some(PasswordChange::Clear),
        Some(p) => take(f, "password", carrier::parse_credential(p, true)).map(|p| PasswordChange::Set(Secret::new(p))),
    };
    let from_domain = match given(req.from_domain.as_deref()) {
        None => Some(None),
        Some(d) => take(f, "from_domain", carrier::parse_host(d)).map(Some),
    };
    let caller_id = match (req.caller_id_policy, given(req.caller_id_number.as_deref())) {
        (api::CallerIdPolicy::Anonymous, _) => Some(CallerIdPolicy::Anonymous),
        (api::CallerIdPolicy::Fixed, None) => {
            f.insert("caller_id_number".into(), "is required when the caller ID is fixed".into());
            None
        }
        (api::CallerIdPolicy::Fixed, Some(n)) => {
            take(f, "caller_id_number", international(n)).map(CallerIdPolicy::Fixed)
        }
        (api::CallerIdPolicy::UserDid, None) => Some(CallerIdPolicy::UserDid { fallback: None }),
        (api::CallerIdPolicy::UserDid, Some(n)) => {
            take(f, "caller_id_number", international(n)).map(|n| CallerIdPolicy::UserDid { fallback: Some(n) })
        }
    };
    let strip_prefix = take(f, "strip_prefix", carrier::parse_affix(&req.strip_prefix));
    let prepend = take(f, "prepend", carrier::parse_affix(&req.prepend));
    let mut inbound = Vec::new();
    for raw in req.inbound_cidrs.iter().filter(|c| !c.trim().is_empty()) {
        match carrier::parse_cidr(raw) {
            Ok(net) if !inbound.contains(&net) => inbound.push(net),
            Ok(_) => {}
            Err(e) => {
                f.insert("inbound_cidrs".into(), e);
                break;
            }
        }
    }
    if inbound.len() > INBOUND_MAX {
        f.insert("inbound_cidrs".into(), format!("lists too many networks ({INBOUND_MAX} at most)"));
    }
    if req.gateways.is_empty() {
        f.insert("gateways".into(), "must list at least one gateway".into());
    } else if req.gateways.len() > carrier::GATEWAYS_MAX {
        f.insert("gateways".into(), format!("are too many ({} at most)", carrier::GATEWAYS_MAX));
    }
    let mut gateways = Vec::new();
    for (i, g) in req.gateways.iter().enumerate().take(carrier::GATEWAYS_MAX) {
        let host = take(f, &format!("gateways[{i}].host"), carrier::parse_host(&g.host));
        let port = take(f, &format!("gateways[{i}].port"), carrier::parse_port(g.port));
        let transport = match g.transport {
            api::Transport::Udp => Transport::Udp,
            api::Transport::Tcp => Transport::Tcp,
        };
        if g.priority > 100 {
            f.insert(format!("gateways[{i}].priority"), "must be between 0 and 100".into());
        }
        if !(1..=1000).contains(&g.weight) {
            f.insert(format!("gateways[{i}].weight"), "must be between 1 and 1000".into());
        }
        let (priority, weight) = (u16::try_from(g.priority).unwrap_or(0), u16::try_from(g.weight).unwrap_or(1));
        if let (Some(host), Some(port)) = (host, port) {
            gateways.push(Gateway { host, port, transport, priority, weight });
        }
    }
    let limit = |f: &mut BTreeMap<String, String>, field: &str, v: Option<u32>, max: u32| match v {
        Some(n) if n == 0 || n > max => {
            f.insert(field.into(), format!("must be between 1 and {max}, or left empty for no limit"));
        }
        _ => {}
    };
    limit(f, "max_calls", req.max_calls, 100_000);
    limit(f, "max_cps", req.max_cps, 10_000);
    if !(60..=86_400).contains(&req.register_expires) {
        f.insert("register_expires".into(), "must be between 60 and 86400 seconds".into());
    }
    if req.register && given(req.username.as_deref()).is_none() {
        f.insert("register".into(), "needs a username (and usually a password) to register with".into());
    }
    match (name, username, password, from_domain, caller_id, strip_prefix, prepend) {
        (
            Some(name),
            Some(username),
            Some(password),
            Some(from_domain),
            Some(caller_id),
            Some(strip_prefix),
            Some(prepend),
        ) if fields.is_empty() => Ok(CarrierSpec {
            name,
            enabled: req.enabled,
            username,
            password,
            from_domain,
            caller_id,
            strip_prefix,
            prepend,
            inbound,
            gateways,
            max_calls: req.max_calls,
            max_cps: req.max_cps,
            register: req.register,
            register_expires: req.register_expires,
        }),
        _ => Err(ApiError::Validation(fields)),
    }
}

async fn list_carriers(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
) -> Result<Json<Vec<api::Carrier>>, ApiError> {
    Ok(Json(state.db.list_carriers().await?.iter().map(to_wire).collect()))
}

async fn get_carrier(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<api::Carrier>, ApiError> {
    let c = state.db.get_carrier(id).await?.ok_or(ApiError::NotFound("no such carrier"))?;
    Ok(Json(to_wire(&c)))
}

async fn create_carrier(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Json(req): Json<api::CarrierInput>,
) -> Result<(StatusCode, Json<api::Carrier>), ApiError> {
    let spec = spec_from(&req)?;
    let c = state
        .db
        .create_carrier(admin.id, &spec, Utc::now())
        .await?
        .map_err(|_| ApiError::Conflict("a carrier with this name exists"))?;
    tracing::info!(admin = %admin.id, carrier = c.id, name = %c.name, "carrier created");
    Ok((StatusCode::CREATED, Json(to_wire(&c))))
}

async fn update_carrier(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Json(req): Json<api::CarrierInput>,
) -> Result<Json<api::Carrier>, ApiError> {
    let spec = spec_from(&req)?;
    let c = state.db.update_carrier(admin.id, id, &spec, Utc::now()).await?.map_err(|e| match e {
        CarrierUpdateError::NotFound => ApiError::NotFound("no such carrier"),
        CarrierUpdateError::NameTaken => ApiError::Conflict("a carrier with this name exists"),
    })?;
    tracing::info!(admin = %admin.id, carrier = c.id, "carrier updated");
    Ok(Json(to_wire(&c)))
}

async fn delete_carrier(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if !state.db.delete_carrier(admin.id, id, Utc::now()).await? {
        return Err(ApiError::NotFound("no such carrier"));
    }
    tracing::info!(admin = %admin.id, carrier = id, "carrier deleted");
    Ok(StatusCode::NO_CONTENT)
}

fn did_to_wire(d: &DidEntry) -> api::Did {
    api::Did {
        id: d.id,
        number: d.number.clone(),
        user_id: d.owner.id.0,
        user_email: d.owner.email.as_str().to_string(),
        user_display_name: d.owner.display_name.as_str().to_string(),
        created_at: time(d.created_at),
    }
}

async fn list_dids(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Query(query): Query<api::DidQuery>,
) -> Result<Json<api::Page<api::Did>>, ApiError> {
    let (page, per_page) = paging(query.page, query.per_page)?;
    let q = given(query.q.as_deref());
    if q.is_some_and(|q| q.chars().count() > 100) {
        return Err(ApiError::field("q", "is too long (100 characters at most)"));
    }
    let (dids, total) = state.db.list_dids(q, page, per_page).await?;
    Ok(Json(api::Page { items: dids.iter().map(did_to_wire).collect(), total, page, per_page }))
}

async fn create_did(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Json(req): Json<api::DidInput>,
) -> Result<(StatusCode, Json<api::Did>), ApiError> {
    let mut fields = BTreeMap::new();
    let number = take(&mut fields, "number", international(&req.number));
    if state.db.user_by_id(UserId(req.user_id)).await?.is_none() {
        fields.insert("user_id".into(), "is not a user".into());
    }
    let (Some(number), true) = (number, fields.is_empty()) else {
        return Err(ApiError::Validation(fields));
    };
    let did = state.db.create_did(admin.id, &number, UserId(req.user_id), Utc::now()).await?.map_err(|e| match e {
        DidRefused::NumberTaken => ApiError::Conflict("this number is already assigned"),
        DidRefused::NoSuchUser => ApiError::field("user_id", "is not a user"),
    })?;
    tracing::info!(admin = %admin.id, did = did.id, user = %did.owner.id, "DID assigned");
    Ok((StatusCode::CREATED, Json(did_to_wire(&did))))
}

async fn delete_did(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if !state.db.delete_did(admin.id, id, Utc::now()).await? {
        return Err(ApiError::NotFound("no such DID"));
    }
    tracing::info!(admin = %admin.id, did = id, "DID removed");
    Ok(StatusCode::NO_CONTENT)
}
