//! Canvas layout: where the console draws a design's LANs and deckies.
//!
//! A layout changes positions only, so it is no design intent: it never touches the
//! runtime and is allowed in any status. [`apply_layout`] checks every entry before it
//! moves anything, and refuses the whole layout with every problem it found.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::issue::{Code, Issue, Target};
use crate::model::Design;
use crate::mutation::Refusal;
use crate::name::Name;

/// Most entries (LANs and deckies together) one layout may move.
pub const MAX_LAYOUT_ENTRIES: usize = 20_000;

/// Largest absolute coordinate accepted.
pub const MAX_COORDINATE: f64 = 1e7;

/// A canvas position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Horizontal position.
    pub x: f64,
    /// Vertical position.
    pub y: f64,
}

/// New positions of some LANs and deckies of one design, by name.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Layout {
    /// LAN positions.
    #[serde(default)]
    pub lans: BTreeMap<Name, Point>,
    /// Decky positions.
    #[serde(default)]
    pub deckies: BTreeMap<Name, Point>,
}

impl Layout {
    /// How many entries the layout has.
    pub fn len(&self) -> usize {
        self.lans.len() + self.deckies.len()
    }

    /// Whether the layout moves nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A copy of `design` with the positions of `layout`; nothing else changes, and deckies
/// that do not move stay shared with `design`. Refused whole when the layout is too
/// large, names a LAN or decky the design lacks, or holds a coordinate that is not a
/// finite number within ±[`MAX_COORDINATE`].
pub fn apply_layout(design: &Design, layout: &Layout) -> Result<Design, Refusal> {
    if layout.len() > MAX_LAYOUT_ENTRIES {
        return Err(Refusal::one(
            Code::PayloadInvalid,
            Target::default(),
            format!("layout: {} entries, at most {MAX_LAYOUT_ENTRIES} are accepted", layout.len()),
        ));
    }
    let mut issues = Vec::new();
    for (name, point) in &layout.lans {
        if !design.lans.contains_key(name) {
            issues.push(Issue::error(Code::LanNotFound, Target::lan(name.as_str()), format!("LAN {name} not found")));
        }
        check_point(point, "lans", name, &mut issues);
    }
    for (name, point) in &layout.deckies {
        if !design.deckies.contains_key(name) {
            issues.push(Issue::error(
                Code::DeckyNotFound,
                Target::decky(name.as_str()),
                format!("decky {name} not found"),
            ));
        }
        check_point(point, "deckies", name, &mut issues);
    }
    if !issues.is_empty() {
        return Err(Refusal { issues });
    }
    let mut next = design.clone();
    for (name, point) in &layout.lans {
        if let Some(lan) = next.lans.get_mut(name) {
            lan.x = Some(point.x);
            lan.y = Some(point.y);
        }
    }
    for (name, point) in &layout.deckies {
        if let Some(decky) = next.deckies.get_mut(name)
            && (decky.x, decky.y) != (Some(point.x), Some(point.y))
        {
            let decky = Arc::make_mut(decky);
            decky.x = Some(point.x);
            decky.y = Some(point.y);
        }
    }
    Ok(next)
}

/// Reports each coordinate of `point` that is not finite or is out of range.
fn check_point(point: &Point, group: &str, name: &Name, issues: &mut Vec<Issue>) {
    for (axis, value) in [("x", point.x), ("y", point.y)] {
        if !value.is_finite() || value.abs() > MAX_COORDINATE {
            let field = format!("{group}.{name}.{axis}");
            issues.push(Issue::error(
                Code::PayloadInvalid,
                Target::field(field.clone()),
                format!("{field}: must be a finite number within ±{MAX_COORDINATE}"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::{GeneratorConfig, generate};

    fn design() -> Design {
        generate(&GeneratorConfig::default(), &[]).expect("the default generator config is valid")
    }

    fn name(value: &str) -> Name {
        Name::parse(value).expect("a valid name")
    }

    fn at(x: f64, y: f64) -> Point {
        Point { x, y }
    }

    #[test]
    fn moves_only_the_named_items() {
        let before = design();
        let lan = before.lans.keys().next().expect("a LAN").clone();
        let mut deckies = before.deckies.keys();
        let moved = deckies.next().expect("a decky").clone();
        let still = deckies.next().expect("a second decky").clone();
        let layout = Layout {
            lans: BTreeMap::from([(lan.clone(), at(10.0, -20.5))]),
            deckies: BTreeMap::from([(moved.clone(), at(1e7, -1e7))]),
        };
        let after = apply_layout(&before, &layout).expect("a valid layout");

        assert_eq!((after.lans[&lan].x, after.lans[&lan].y), (Some(10.0), Some(-20.5)));
        assert_eq!((after.deckies[&moved].x, after.deckies[&moved].y), (Some(1e7), Some(-1e7)));
        // Nothing but positions changed, and the unmoved decky is still shared.
        assert!(Arc::ptr_eq(&before.deckies[&still], &after.deckies[&still]));
        assert!(!Arc::ptr_eq(&before.deckies[&moved], &after.deckies[&moved]));
        let mut restored = after.clone();
        let lan_row = restored.lans.get_mut(&lan).expect("the LAN");
        (lan_row.x, lan_row.y) = (before.lans[&lan].x, before.lans[&lan].y);
        let decky = Arc::make_mut(restored.deckies.get_mut(&moved).expect("the decky"));
        (decky.x, decky.y) = (before.deckies[&moved].x, before.deckies[&moved].y);
        assert_eq!(restored, before);
    }

    #[test]
    fn an_unchanged_position_keeps_the_decky_shared() {
        let mut before = design();
        let decky = before.deckies.keys().next().expect("a decky").clone();
        let row = Arc::make_mut(before.deckies.get_mut(&decky).expect("the decky"));
        (row.x, row.y) = (Some(1.0), Some(2.0));
        let layout = Layout { deckies: BTreeMap::from([(decky.clone(), at(1.0, 2.0))]), ..Layout::default() };
        let after = apply_layout(&before, &layout).expect("a valid layout");
        assert!(Arc::ptr_eq(&before.deckies[&decky], &after.deckies[&decky]));
        assert_eq!(after, before);
    }

    #[test]
    fn refuses_every_problem_at_once() {
        let before = design();
        let lan = before.lans.keys().next().expect("a LAN").clone();
        let layout = Layout {
            lans: BTreeMap::from([(lan, at(f64::NAN, 0.0)), (name("no-such-lan"), at(0.0, 0.0))]),
            deckies: BTreeMap::from([(name("no-such-decky"), at(0.0, f64::INFINITY)), (name("far"), at(2e7, 0.0))]),
        };
        let refusal = apply_layout(&before, &layout).expect_err("an invalid layout");
        assert_eq!(refusal.codes(), ["DECKY_NOT_FOUND", "LAN_NOT_FOUND", "PAYLOAD_INVALID"]);
        // The NaN x, the unknown LAN, two unknown deckies, the infinite y and the far x.
        assert_eq!(refusal.issues.len(), 6);
        let fields: Vec<_> = refusal.issues.iter().filter_map(|i| i.target.field.as_deref()).collect();
        assert!(fields.contains(&"deckies.no-such-decky.y"), "{fields:?}");
    }

    #[test]
    fn refuses_a_layout_that_is_too_large() {
        let before = design();
        let decky = before.deckies.keys().next().expect("a decky").clone();
        let mut layout = Layout::default();
        layout.deckies.insert(decky, at(0.0, 0.0));
        for i in 0..MAX_LAYOUT_ENTRIES {
            layout.lans.insert(name(&format!("lan-{i}")), at(0.0, 0.0));
        }
        let refusal = apply_layout(&before, &layout).expect_err("too many entries");
        assert_eq!(refusal.codes(), ["PAYLOAD_INVALID"]);
        assert_eq!(refusal.issues.len(), 1);
    }

    #[test]
    fn an_empty_layout_changes_nothing() {
        let before = design();
        assert_eq!(apply_layout(&before, &Layout::default()).expect("empty is valid"), before);
    }
}
