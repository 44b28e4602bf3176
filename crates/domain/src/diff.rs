//! The difference between two designs, as row-level changes for the store.
//!
//! Planning produces a whole new design; persisting it whole would cost O(topology) per
//! mutation. [`diff`] finds the LANs and deckies that were added, changed or removed so
//! the store writes only those rows.

use std::sync::Arc;

use crate::model::{Decky, Design, Lan};
use crate::name::Name;

/// Row-level changes from one design to another.
#[derive(Debug, Default, PartialEq)]
pub struct DesignDiff<'a> {
    /// LANs that are new.
    pub lans_added: Vec<&'a Lan>,
    /// LANs whose fields changed.
    pub lans_changed: Vec<&'a Lan>,
    /// LANs that are gone.
    pub lans_removed: Vec<&'a Name>,
    /// Deckies that are new.
    pub deckies_added: Vec<&'a Decky>,
    /// Deckies whose fields or memberships changed, as (before, after).
    pub deckies_changed: Vec<(&'a Decky, &'a Decky)>,
    /// Deckies that are gone.
    pub deckies_removed: Vec<&'a Name>,
}

impl DesignDiff<'_> {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.lans_added.is_empty()
            && self.lans_changed.is_empty()
            && self.lans_removed.is_empty()
            && self.deckies_added.is_empty()
            && self.deckies_changed.is_empty()
            && self.deckies_removed.is_empty()
    }
}

/// The changes that turn `old` into `new`, in O(n) over both designs.
pub fn diff<'a>(old: &'a Design, new: &'a Design) -> DesignDiff<'a> {
    let mut out = DesignDiff::default();
    for (name, lan) in &new.lans {
        match old.lans.get(name) {
            None => out.lans_added.push(lan),
            Some(before) if before != lan => out.lans_changed.push(lan),
            Some(_) => {}
        }
    }
    out.lans_removed = old.lans.keys().filter(|n| !new.lans.contains_key(*n)).collect();
    for (name, decky) in &new.deckies {
        match old.deckies.get(name) {
            None => out.deckies_added.push(decky),
            // Untouched deckies are the same allocation: no deep comparison needed.
            Some(before) if !Arc::ptr_eq(before, decky) && before != decky => out.deckies_changed.push((before, decky)),
            Some(_) => {}
        }
    }
    out.deckies_removed = old.deckies.keys().filter(|n| !new.deckies.contains_key(*n)).collect();
    out
}
