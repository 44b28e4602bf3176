//! Property test: the incremental post-apply check (`validate_change`, what planning uses)
//! finds exactly the error codes of the full check on every drafted design, over random
//! topologies and random op sequences.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{header, op};
use decnet_domain::generator::{GeneratorConfig, generate};
use decnet_domain::validate::{Context, Scope, validate, validate_change};
use decnet_domain::{Issue, draft};
use proptest::prelude::*;

fn error_codes(issues: &[Issue]) -> BTreeSet<&'static str> {
    issues.iter().filter(|i| i.is_error()).map(|i| i.code.as_str()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn incremental_and_full_checks_agree(
        seed in any::<u64>(),
        depth in 1u32..=3,
        steps in prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()), 1..40),
    ) {
        let config = GeneratorConfig { seed, depth, branching: 3, cross_edge_p: 0.3, ..GeneratorConfig::default() };
        let mut design = Arc::new(generate(&config, &[]).unwrap());
        let header = header();
        let ctx = Context::default();
        for (kind, a, b, c) in steps {
            let Some(op) = op(&design, kind, a, b, c) else { continue };
            let Ok(drafted) = draft(&header, &design, &op, &ctx) else { continue };
            let full = error_codes(&validate(&drafted.design, &ctx, Scope::PostApply));
            let incremental = error_codes(&validate_change(&design, &drafted.design, &ctx));
            prop_assert_eq!(&full, &incremental, "{:?}", op);
            if full.is_empty() {
                design = Arc::new(drafted.design);
            }
        }
    }
}
