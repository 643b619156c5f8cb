//! Carriers' buy rate decks: each import is a new version with an effective date, written in one
//! transaction (rows in batches), so a deck is either all there or not at all. The routing table
//! is built from every carrier's active deck: its latest with `effective_from <= now`.

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::{Expr, OnConflict},
};

use super::{
    Db, Result,
    entities::{buy_deck_packed, buy_decks, buy_rates, carriers},
    ledger::{Audit, write_audit},
};
use crate::{
    domain::UserId,
    rating::{Money, Tariff},
    routing::{CarrierId, DeckRow, Prefix, packed::PackedDeck},
};

/// One version of a carrier's deck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeckInfo {
    pub id: i64,
    pub carrier_id: i64,
    pub effective_from: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub rows: u64,
}

fn info(m: buy_decks::Model) -> DeckInfo {
    DeckInfo {
        id: m.id,
        carrier_id: m.carrier_id,
        effective_from: m.effective_from,
        created_at: m.created_at,
        rows: u64::try_from(m.rows).unwrap_or(0),
    }
}

/// A deck being written: rows go in with `write`, and nothing is visible until `commit`.
pub struct DeckWriter {
    txn: DatabaseTransaction,
    deck: buy_decks::Model,
    rows: u64,
    /// The rows so far, packed (12 bytes each): stored with the deck at commit.
    packed: PackedDeck,
}

impl Db {
    /// Starts a new deck for `carrier`, effective from `from`; `None` when there is no such carrier.
    pub async fn begin_deck(
        &self,
        carrier: i64,
        from: DateTime<Utc>,
        by: UserId,
        now: DateTime<Utc>,
    ) -> Result<Option<DeckWriter>> {
        let txn = self.conn.begin().await?;
        if carriers::Entity::find_by_id(carrier).one(&txn).await?.is_none() {
            return Ok(None);
        }
        let deck = buy_decks::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            carrier_id: Set(carrier),
            effective_from: Set(from),
            created_at: Set(now),
            created_by: Set(Some(by.0)),
            rows: Set(0),
        }
        .insert(&txn)
        .await?;
        Ok(Some(DeckWriter { txn, deck, rows: 0, packed: PackedDeck::new() }))
    }

    /// A carrier's decks, newest first.
    pub async fn decks_of(&self, carrier: i64) -> Result<Vec<DeckInfo>> {
        Ok(buy_decks::Entity::find()
            .filter(buy_decks::Column::CarrierId.eq(carrier))
            .order_by_desc(buy_decks::Column::EffectiveFrom)
            .order_by_desc(buy_decks::Column::Id)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(info)
            .collect())
    }

    pub async fn deck(&self, carrier: i64, deck: i64) -> Result<Option<DeckInfo>> {
        Ok(buy_decks::Entity::find_by_id(deck)
            .filter(buy_decks::Column::CarrierId.eq(carrier))
            .one(&self.conn)
            .await?
            .map(info))
    }

    /// Up to `limit` rows of a deck after prefix `after`, in prefix order (for a streamed export).
    pub async fn deck_rows_after(&self, deck: i64, after: Option<&str>, limit: u64) -> Result<Vec<DeckRow>> {
        let mut q = buy_rates::Entity::find().filter(buy_rates::Column::DeckId.eq(deck));
        if let Some(after) = after {
            q = q.filter(buy_rates::Column::Prefix.gt(after));
        }
        let rows = q.order_by_asc(buy_rates::Column::Prefix).limit(limit).all(&self.conn).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(DeckRow {
                    prefix: r.prefix.parse().ok()?,
                    description: r.description,
                    rate: tariff(r.per_minute, r.connection_fee, r.min_duration, r.first_increment, r.next_increment)?,
                })
            })
            .collect())
    }

    /// The active deck of every carrier at `now` (its latest version in effect), packed; and
    /// when the next version takes effect, if one is waiting.
    ///
    /// Each deck is read from its packed blob. A deck without one (imported before blobs were
    /// kept) or with a damaged one is read row by row and its blob written, once.
    #[allow(clippy::type_complexity)]
    pub async fn active_decks(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(Vec<(CarrierId, i64, PackedDeck)>, Option<DateTime<Utc>>)> {
        let all = buy_decks::Entity::find()
            .order_by_asc(buy_decks::Column::CarrierId)
            .order_by_desc(buy_decks::Column::EffectiveFrom)
            .order_by_desc(buy_decks::Column::Id)
            .all(&self.conn)
            .await?;
        let next_change = all.iter().map(|d| d.effective_from).filter(|t| *t > now).min();
        let mut active: Vec<buy_decks::Model> = vec![];
        for d in all.into_iter().filter(|d| d.effective_from <= now) {
            if active.last().is_none_or(|a| a.carrier_id != d.carrier_id) {
                active.push(d);
            }
        }
        let mut out = vec![];
        for d in active {
            let stored = buy_deck_packed::Entity::find_by_id(d.id).one(&self.conn).await?;
            let packed = match stored.map(|m| PackedDeck::from_bytes(&m.data)) {
                Some(Ok(packed)) => packed,
                Some(Err(e)) => {
                    tracing::warn!(deck = d.id, error = %e, "a packed deck is damaged; reading its rows");
                    self.pack_deck(&d).await?
                }
                None => self.pack_deck(&d).await?,
            };
            out.push((CarrierId(d.carrier_id), d.id, packed));
        }
        Ok((out, next_change))
    }

    /// Reads a deck's rows into its packed form and stores that.
    async fn pack_deck(&self, d: &buy_decks::Model) -> Result<PackedDeck> {
        // Streamed row by row: a million driver rows are never held at once. In no particular
        // order: an import refuses a prefix that appears twice.
        let mut stream = buy_rates::Entity::find()
            .select_only()
            .columns([
                buy_rates::Column::Prefix,
                buy_rates::Column::PerMinute,
                buy_rates::Column::ConnectionFee,
                buy_rates::Column::MinDuration,
                buy_rates::Column::FirstIncrement,
                buy_rates::Column::NextIncrement,
            ])
            .filter(buy_rates::Column::DeckId.eq(d.id))
            .into_tuple::<(String, i64, i64, i32, i32, i32)>()
            .stream(&self.conn)
            .await?;
        let mut packed = PackedDeck::new();
        while let Some(row) = stream.next().await {
            let (p, pm, fee, min, first, next) = row?;
            if let (Ok(prefix), Some(t)) = (p.parse::<Prefix>(), tariff(pm, fee, min, first, next)) {
                packed.push(prefix, t);
            }
        }
        drop(stream);
        store_packed(&self.conn, d.id, &packed).await?;
        Ok(packed)
    }
}

/// Stores (or replaces) a deck's packed form.
async fn store_packed(db: &impl sea_orm::ConnectionTrait, deck: i64, packed: &PackedDeck) -> Result<()> {
    let model = buy_deck_packed::ActiveModel { deck_id: Set(deck), data: Set(packed.to_bytes()) };
    buy_deck_packed::Entity::insert(model)
        .on_conflict(
            OnConflict::column(buy_deck_packed::Column::DeckId).update_column(buy_deck_packed::Column::Data).to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

fn tariff(per_minute: i64, fee: i64, min: i32, first: i32, next: i32) -> Option<Tariff> {
    Tariff::new(Money(per_minute), Money(fee), min.try_into().ok()?, first.try_into().ok()?, next.try_into().ok()?).ok()
}

impl DeckWriter {
    pub fn id(&self) -> i64 {
        self.deck.id
    }

    /// Adds rows (one multi-row INSERT per 500).
    pub async fn write(&mut self, rows: &[DeckRow]) -> Result<()> {
        let secs = |s: u32| i32::try_from(s).unwrap_or(i32::MAX);
        for chunk in rows.chunks(500) {
            let models = chunk.iter().map(|r| buy_rates::ActiveModel {
                id: sea_orm::ActiveValue::NotSet,
                deck_id: Set(self.deck.id),
                prefix: Set(r.prefix.to_string()),
                description: Set(r.description.clone()),
                per_minute: Set(r.rate.per_minute.0),
                connection_fee: Set(r.rate.connection_fee.0),
                min_duration: Set(secs(r.rate.min_duration)),
                first_increment: Set(secs(r.rate.first_increment)),
                next_increment: Set(secs(r.rate.next_increment)),
            });
            buy_rates::Entity::insert_many(models).exec(&self.txn).await?;
            self.rows += chunk.len() as u64;
        }
        for r in rows {
            self.packed.push(r.prefix, r.rate);
        }
        Ok(())
    }

    /// Makes the deck visible, with its row count and an audit entry.
    pub async fn commit(self, by: UserId, now: DateTime<Utc>) -> Result<DeckInfo> {
        let rows = i64::try_from(self.rows).unwrap_or(i64::MAX);
        buy_decks::Entity::update_many()
            .col_expr(buy_decks::Column::Rows, Expr::value(rows))
            .filter(buy_decks::Column::Id.eq(self.deck.id))
            .exec(&self.txn)
            .await?;
        let audit = Audit {
            actor: by,
            action: "buy_deck.import",
            target: format!("carrier:{}", self.deck.carrier_id),
            before: None,
            after: Some(format!(
                r#"{{"deck":{},"rows":{},"effective_from":"{}"}}"#,
                self.deck.id,
                self.rows,
                self.deck.effective_from.to_rfc3339()
            )),
        };
        write_audit(&self.txn, audit, now).await?;
        store_packed(&self.txn, self.deck.id, &self.packed).await?;
        self.txn.commit().await?;
        Ok(DeckInfo { rows: self.rows, ..info(self.deck) })
    }
}
