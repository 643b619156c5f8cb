//! The routing table calls read: an immutable [`PrefixIndex`] behind an `Arc`, replaced whole
//! when a deck changes. Readers clone the `Arc` (a pointer copy under a lock held for that
//! instant), so a rebuild, however long, never blocks a call.

use std::sync::{Arc, RwLock};

use super::{CarrierId, PrefixIndex};

/// One build of the table.
#[derive(Debug, Default)]
pub struct RoutingTable {
    pub index: PrefixIndex,
    /// The deck each carrier's rows came from.
    pub decks: Vec<(CarrierId, i64)>,
    /// Builds so far (1 for the first).
    pub generation: u64,
}

#[derive(Debug, Default)]
pub struct LiveTable {
    current: RwLock<Arc<RoutingTable>>,
}

impl LiveTable {
    pub fn get(&self) -> Arc<RoutingTable> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Puts `table` in place; calls that hold the old one finish with it.
    pub fn swap(&self, mut table: RoutingTable) {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        table.generation = current.generation + 1;
        *current = Arc::new(table);
    }
}
