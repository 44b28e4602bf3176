//! The difference between two designs, as row-level changes for the store.
//!
//! Planning produces a whole new design; persisting it whole would cost O(topology) per
//! mutation. [`diff`] finds the LANs and deckies that were added, changed or removed so
//! the store writes only those rows.

use std::cmp::Ordering;
use std::collections::BTreeMap;
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

/// Walks two maps in key order, pairing entries with equal keys.
fn merge<'a, V>(
    old: &'a BTreeMap<Name, V>,
    new: &'a BTreeMap<Name, V>,
) -> impl Iterator<Item = (&'a Name, Option<&'a V>, Option<&'a V>)> {
    let mut old = old.iter().peekable();
    let mut new = new.iter().peekable();
    std::iter::from_fn(move || match (old.peek(), new.peek()) {
        (None, None) => None,
        (Some((k, v)), None) => {
            let item = (*k, Some(*v), None);
            old.next();
            Some(item)
        }
        (None, Some((k, v))) => {
            let item = (*k, None, Some(*v));
            new.next();
            Some(item)
        }
        (Some((ko, vo)), Some((kn, vn))) => Some(match ko.cmp(kn) {
            Ordering::Less => {
                let item = (*ko, Some(*vo), None);
                old.next();
                item
            }
            Ordering::Greater => {
                let item = (*kn, None, Some(*vn));
                new.next();
                item
            }
            Ordering::Equal => {
                let item = (*kn, Some(*vo), Some(*vn));
                old.next();
                new.next();
                item
            }
        }),
    })
}

/// The changes that turn `old` into `new`, in one ordered pass over both designs.
pub fn diff<'a>(old: &'a Design, new: &'a Design) -> DesignDiff<'a> {
    let mut out = DesignDiff::default();
    for (name, before, after) in merge(&old.lans, &new.lans) {
        match (before, after) {
            (None, Some(lan)) => out.lans_added.push(lan),
            (Some(before), Some(lan)) if before != lan => out.lans_changed.push(lan),
            (Some(_), None) => out.lans_removed.push(name),
            _ => {}
        }
    }
    for (name, before, after) in merge(&old.deckies, &new.deckies) {
        match (before, after) {
            (None, Some(decky)) => out.deckies_added.push(decky),
            // Untouched deckies are the same allocation: no deep comparison needed.
            (Some(before), Some(decky)) if !Arc::ptr_eq(before, decky) && before != decky => {
                out.deckies_changed.push((before, decky));
            }
            (Some(_), None) => out.deckies_removed.push(name),
            _ => {}
        }
    }
    out
}
