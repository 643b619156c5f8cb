//! Carriers and their gateways. A carrier and its gateway list are written together in one
//! transaction, with the audit entry; deleting a carrier deletes its gateways (foreign key
//! `ON DELETE CASCADE`).

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, SqlErr, TransactionTrait,
};

use super::{
    Db, Result,
    entities::{carrier_gateways as gateways, carriers},
    ledger::{Audit, write_audit},
};
use crate::{
    carrier::{CallerIdPolicy, Carrier, CarrierSpec, Gateway, PasswordChange, Transport},
    config::Secret,
    domain::UserId,
    number::E164,
};

/// Another carrier has this name.
#[derive(Debug)]
pub struct NameTaken;

#[derive(Debug)]
pub enum CarrierUpdateError {
    NotFound,
    NameTaken,
}

fn to_carrier(m: carriers::Model, gws: &[gateways::Model]) -> Carrier {
    let number = m.caller_id_number.map(E164::from_trusted);
    let caller_id = match (m.caller_id_policy.as_str(), number) {
        ("fixed", Some(n)) => CallerIdPolicy::Fixed(n),
        ("anonymous", _) => CallerIdPolicy::Anonymous,
        (_, fallback) => CallerIdPolicy::UserDid { fallback },
    };
    let inbound = m
        .inbound_cidrs
        .split(',')
        .filter(|c| !c.trim().is_empty())
        .filter_map(|c| match c.trim().parse() {
            Ok(net) => Some(net),
            Err(_) => {
                tracing::warn!(carrier = m.id, cidr = c, "ignoring an unreadable inbound CIDR");
                None
            }
        })
        .collect();
    let gateways = gws
        .iter()
        .filter(|g| g.carrier_id == m.id)
        .map(|g| Gateway {
            host: g.host.clone(),
            port: u16::try_from(g.port).unwrap_or(5060),
            transport: Transport::parse(&g.transport).unwrap_or(Transport::Udp),
            priority: u16::try_from(g.priority).unwrap_or(0),
            weight: u16::try_from(g.weight).unwrap_or(1),
        })
        .collect();
    Carrier {
        id: m.id,
        name: m.name,
        enabled: m.enabled,
        username: m.username,
        password: m.password.map(Secret::new),
        from_domain: m.from_domain,
        caller_id,
        strip_prefix: m.strip_prefix,
        prepend: m.prepend,
        inbound,
        max_calls: m.max_calls.and_then(|n| u32::try_from(n).ok()),
        max_cps: m.max_cps.and_then(|n| u32::try_from(n).ok()),
        register: m.register,
        register_expires: u32::try_from(m.register_expires).unwrap_or(3600),
        gateways,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

/// The gateways of `ids`, by carrier then position.
async fn gateways_of(db: &impl ConnectionTrait, ids: Vec<i64>) -> Result<Vec<gateways::Model>> {
    Ok(gateways::Entity::find()
        .filter(gateways::Column::CarrierId.is_in(ids))
        .order_by_asc(gateways::Column::CarrierId)
        .order_by_asc(gateways::Column::Position)
        .all(db)
        .await?)
}

async fn with_gateways(db: &impl ConnectionTrait, rows: Vec<carriers::Model>) -> Result<Vec<Carrier>> {
    let gws = gateways_of(db, rows.iter().map(|c| c.id).collect()).await?;
    Ok(rows.into_iter().map(|c| to_carrier(c, &gws)).collect())
}

/// Replaces the carrier's gateway list with `list`, in order.
async fn write_gateways(txn: &DatabaseTransaction, carrier: i64, list: &[Gateway]) -> Result<Vec<gateways::Model>> {
    gateways::Entity::delete_many().filter(gateways::Column::CarrierId.eq(carrier)).exec(txn).await?;
    let mut rows = Vec::with_capacity(list.len());
    for (position, g) in (0..).zip(list) {
        let row = gateways::ActiveModel {
            id: NotSet,
            carrier_id: Set(carrier),
            position: Set(position),
            host: Set(g.host.clone()),
            port: Set(i32::from(g.port)),
            transport: Set(g.transport.as_str().to_string()),
            priority: Set(i32::from(g.priority)),
            weight: Set(i32::from(g.weight)),
        }
        .insert(txn)
        .await?;
        rows.push(row);
    }
    Ok(rows)
}

fn cidrs_text(spec: &CarrierSpec) -> String {
    spec.inbound.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

/// The audit log's view of a carrier (never the password itself).
fn limit(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn audit_text(c: &Carrier) -> String {
    let gateways: Vec<String> = c
        .gateways
        .iter()
        .map(|g| format!("{}:{}/{} p{} w{}", g.host, g.port, g.transport.as_str(), g.priority, g.weight))
        .collect();
    let inbound: Vec<String> = c.inbound.iter().map(ToString::to_string).collect();
    format!(
        r#"{{"name":{:?},"enabled":{},"username":{:?},"password":{},"caller_id":{:?},"gateways":{:?},"inbound":{:?},"max_calls":{},"max_cps":{},"register":{},"register_expires":{}}}"#,
        c.name,
        c.enabled,
        c.username.as_deref().unwrap_or(""),
        c.password.is_some(),
        c.caller_id.as_str(),
        gateways,
        inbound,
        c.max_calls.map_or("null".into(), |n| n.to_string()),
        c.max_cps.map_or("null".into(), |n| n.to_string()),
        c.register,
        c.register_expires,
    )
}

fn is_unique_violation(e: &sea_orm::DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

impl Db {
    /// Every carrier, oldest first.
    pub async fn list_carriers(&self) -> Result<Vec<Carrier>> {
        let rows = carriers::Entity::find().order_by_asc(carriers::Column::Id).all(&self.conn).await?;
        with_gateways(&self.conn, rows).await
    }

    pub async fn get_carrier(&self, id: i64) -> Result<Option<Carrier>> {
        let Some(row) = carriers::Entity::find_by_id(id).one(&self.conn).await? else { return Ok(None) };
        Ok(with_gateways(&self.conn, vec![row]).await?.pop())
    }

    /// The enabled carriers, oldest first.
    pub async fn enabled_carriers(&self) -> Result<Vec<Carrier>> {
        let rows = carriers::Entity::find()
            .filter(carriers::Column::Enabled.eq(true))
            .order_by_asc(carriers::Column::Id)
            .all(&self.conn)
            .await?;
        with_gateways(&self.conn, rows).await
    }

    /// The first enabled carrier (oldest first) whose inbound networks contain `ip`.
    pub async fn carrier_for_source(&self, ip: IpAddr) -> Result<Option<Carrier>> {
        Ok(self.enabled_carriers().await?.into_iter().find(|c| c.accepts(ip)))
    }

    /// How many gateway rows exist, over all carriers.
    pub async fn count_gateways(&self) -> Result<u64> {
        Ok(gateways::Entity::find().count(&self.conn).await?)
    }

    /// Creates the carrier and its gateways, with an audit entry, in one transaction.
    pub async fn create_carrier(
        &self,
        actor: UserId,
        spec: &CarrierSpec,
        now: DateTime<Utc>,
    ) -> Result<Result<Carrier, NameTaken>> {
        let txn = self.conn.begin().await?;
        let password = match &spec.password {
            PasswordChange::Set(s) => Some(s.expose().to_string()),
            PasswordChange::Keep | PasswordChange::Clear => None,
        };
        let inserted = carriers::ActiveModel {
            id: NotSet,
            name: Set(spec.name.clone()),
            enabled: Set(spec.enabled),
            username: Set(spec.username.clone()),
            password: Set(password),
            from_domain: Set(spec.from_domain.clone()),
            caller_id_policy: Set(spec.caller_id.as_str().to_string()),
            caller_id_number: Set(spec.caller_id.number().map(|n| n.as_str().to_string())),
            strip_prefix: Set(spec.strip_prefix.clone()),
            prepend: Set(spec.prepend.clone()),
            inbound_cidrs: Set(cidrs_text(spec)),
            max_calls: Set(spec.max_calls.map(limit)),
            max_cps: Set(spec.max_cps.map(limit)),
            register: Set(spec.register),
            register_expires: Set(limit(spec.register_expires)),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await;
        let row = match inserted {
            Ok(row) => row,
            Err(e) if is_unique_violation(&e) => return Ok(Err(NameTaken)),
            Err(e) => return Err(e.into()),
        };
        let gws = write_gateways(&txn, row.id, &spec.gateways).await?;
        let carrier = to_carrier(row, &gws);
        let audit = Audit {
            actor,
            action: "carrier.create",
            target: format!("carrier:{}", carrier.id),
            before: None,
            after: Some(audit_text(&carrier)),
        };
        write_audit(&txn, audit, now).await?;
        txn.commit().await?;
        Ok(Ok(carrier))
    }

    /// Replaces the carrier's settings and gateway list, with an audit entry, in one transaction.
    pub async fn update_carrier(
        &self,
        actor: UserId,
        id: i64,
        spec: &CarrierSpec,
        now: DateTime<Utc>,
    ) -> Result<Result<Carrier, CarrierUpdateError>> {
        let txn = self.conn.begin().await?;
        let Some(row) = carriers::Entity::find_by_id(id).one(&txn).await? else {
            return Ok(Err(CarrierUpdateError::NotFound));
        };
        let before = to_carrier(row.clone(), &gateways_of(&txn, vec![id]).await?);
        let password = match &spec.password {
            PasswordChange::Keep => row.password.clone(),
            PasswordChange::Clear => None,
            PasswordChange::Set(s) => Some(s.expose().to_string()),
        };
        let mut am = row.into_active_model();
        am.name = Set(spec.name.clone());
        am.enabled = Set(spec.enabled);
        am.username = Set(spec.username.clone());
        am.password = Set(password);
        am.from_domain = Set(spec.from_domain.clone());
        am.caller_id_policy = Set(spec.caller_id.as_str().to_string());
        am.caller_id_number = Set(spec.caller_id.number().map(|n| n.as_str().to_string()));
        am.strip_prefix = Set(spec.strip_prefix.clone());
        am.prepend = Set(spec.prepend.clone());
        am.inbound_cidrs = Set(cidrs_text(spec));
        am.max_calls = Set(spec.max_calls.map(limit));
        am.max_cps = Set(spec.max_cps.map(limit));
        am.register = Set(spec.register);
        am.register_expires = Set(limit(spec.register_expires));
        am.updated_at = Set(now);
        let row = match am.update(&txn).await {
            Ok(row) => row,
            Err(e) if is_unique_violation(&e) => return Ok(Err(CarrierUpdateError::NameTaken)),
            Err(e) => return Err(e.into()),
        };
        let gws = write_gateways(&txn, id, &spec.gateways).await?;
        let carrier = to_carrier(row, &gws);
        let audit = Audit {
            actor,
            action: "carrier.update",
            target: format!("carrier:{id}"),
            before: Some(audit_text(&before)),
            after: Some(audit_text(&carrier)),
        };
        write_audit(&txn, audit, now).await?;
        txn.commit().await?;
        Ok(Ok(carrier))
    }

    /// Deletes the carrier (its gateways go with it), with an audit entry. False when there was
    /// no such carrier. Call records keep the carrier's id and name.
    pub async fn delete_carrier(&self, actor: UserId, id: i64, now: DateTime<Utc>) -> Result<bool> {
        let txn = self.conn.begin().await?;
        let Some(row) = carriers::Entity::find_by_id(id).one(&txn).await? else { return Ok(false) };
        let before = to_carrier(row, &gateways_of(&txn, vec![id]).await?);
        carriers::Entity::delete_by_id(id).exec(&txn).await?;
        let audit = Audit {
            actor,
            action: "carrier.delete",
            target: format!("carrier:{id}"),
            before: Some(audit_text(&before)),
            after: None,
        };
        write_audit(&txn, audit, now).await?;
        txn.commit().await?;
        Ok(true)
    }
}
