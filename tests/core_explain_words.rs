//! Every cause the core writes on a line reads back as a `Cause` and has words: scenarios
//! covering every rule that posts a line run through the pure core, and each posted line's
//! cause is read and explained.

mod core;

use core::*;
use subsweep::domain::catalog::Offer;
use subsweep::domain::cause::Cause;
use subsweep::domain::explain::{LineContext, words};
use subsweep::domain::vocabulary::{Action, BillingFrequency};

#[test]
fn every_cause_the_core_posts_reads_back_and_has_words() {
    let mut sim = Sim::new(
        vec![
            monthly("M", "30.00"),
            offer("A", BillingFrequency::Annual, 12, "120.00"),
            usage_offer("U", "0.50"),
            addon("ADD", &["M"], "5.00"),
            Offer {
                trial_days: 30,
                ..offer("T", BillingFrequency::Monthly, 1, "4.00")
            },
        ],
        vec![customer("C1", "2018-01-01")],
    );
    sim.order(purchase("B", "2018-01-01T08:00:00Z", "C1", "M", Some("1")))
        .order(addon_purchase(
            "AD",
            "2018-01-10T08:00:00Z",
            "C1",
            "ADD",
            "1",
            "B-1",
        ))
        .order(change("Q", "2018-01-20T08:00:00Z", "C1", "B-1", "3"))
        .order(act(
            "S",
            "2018-03-05T08:00:00Z",
            Action::Suspend,
            "C1",
            "B-1",
        ))
        .order(act(
            "R",
            "2018-03-15T08:00:00Z",
            Action::Reactivate,
            "C1",
            "B-1",
        ))
        // Cancel within the window of an annual license (14 days).
        .order(purchase("Y", "2018-01-01T08:00:00Z", "C1", "A", Some("2")))
        .order(act(
            "YC",
            "2018-01-05T08:00:00Z",
            Action::Cancel,
            "C1",
            "Y-1",
        ))
        // Metered usage billed at a period end and at a cancel.
        .order(purchase("UU", "2018-01-01T08:00:00Z", "C1", "U", None))
        .order(usage("UU1", "2018-01-05T08:00:00Z", "C1", "UU-1", "10"))
        .order(usage("UU2", "2018-02-05T08:00:00Z", "C1", "UU-1", "4"))
        .order(act(
            "UUC",
            "2018-02-10T08:00:00Z",
            Action::Cancel,
            "C1",
            "UU-1",
        ))
        // A trial that converts, then renews its 1-month term.
        .order(purchase("TT", "2018-01-01T08:00:00Z", "C1", "T", Some("1")))
        // A late suspension: the period already posted is offset.
        .order(purchase("L", "2018-01-01T08:00:00Z", "C1", "M", Some("1")))
        .deliver_on(
            act("LS", "2018-02-05T08:00:00Z", Action::Suspend, "C1", "L-1"),
            d("2018-03-10"),
        )
        .run_through("2018-04-30");
    let policy = policy();
    let mut kinds = std::collections::BTreeSet::new();
    for (_, line) in &sim.posted {
        let cause = Cause::parse(&line.cause)
            .unwrap_or_else(|| panic!("the core wrote a cause it cannot read: {}", line.cause));
        let said = words(line, &cause, &LineContext::bare(&policy));
        assert!(!said.is_empty(), "{}", line.cause);
        let kind = match &cause {
            Cause::Order { part, .. } => format!("order {:?}", std::mem::discriminant(part)),
            other => format!("{:?}", std::mem::discriminant(other)),
        };
        kinds.insert(kind);
    }
    assert!(
        sim.posted
            .iter()
            .any(|(_, l)| matches!(Cause::parse(&l.cause), Some(Cause::Offset { .. }))),
        "the late suspension is offset"
    );
    // purchase, conversion, period, renewal, usage, order (whole, seats, refund), offset.
    assert!(kinds.len() >= 9, "{kinds:?}");
}
