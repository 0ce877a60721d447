//! `subsweep subscriptions`: the current subscriptions as CSV (SPEC section 7).

use std::io::{self, Write};

use chrono::NaiveDate;

use super::cells;
use crate::domain::subscription::Subscription;

/// The export's columns, in order.
pub const HEADER: [&str; 17] = [
    "SubscriptionId",
    "CustomerId",
    "OfferId",
    "ParentSubscriptionId",
    "Status",
    "InTrial",
    "Quantity",
    "AutoRenew",
    "CancelAtTermEnd",
    "PaidStart",
    "TermEnd",
    "CurrentPeriodStart",
    "CurrentPeriodEnd",
    "TrialEndDate",
    "SuspendedOn",
    "DataExpiresOn",
    "EndedOn",
];

/// Writes `list` as CSV, with calendar dates derived as of `as_of`.
pub fn write_csv(out: &mut dyn Write, list: &[Subscription], as_of: NaiveDate) -> io::Result<()> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(HEADER)?;
    for s in list {
        let view = s.view(as_of);
        let st = &s.state;
        csv.write_record([
            cells::text(&s.id),
            cells::text(&s.customer_id),
            cells::text(&s.offer_id),
            cells::opt_text(s.parent.as_deref()),
            st.status.to_string(),
            cells::boolean(st.in_trial).to_string(),
            cells::quantity(st.quantity),
            cells::boolean(st.auto_renew).to_string(),
            cells::boolean(st.cancel_at_term_end).to_string(),
            cells::date(view.paid_start),
            cells::date(view.term_end),
            cells::date(view.current_period.map(|p| p.start)),
            cells::date(view.current_period.map(|p| p.end)),
            cells::date(st.trial_end),
            cells::date(st.suspended_on),
            cells::date(st.data_expires_on),
            cells::date(st.ended_on),
        ])?;
    }
    csv.flush()
}
