//! The subscription state machine (SPEC sections 4, 5 and 6): order events and the calendar
//! move a family — a base subscription and its add-ons — from state to state, and every move
//! says which charge lines it makes. A family is the unit because add-ons follow their base:
//! its calendar, its trial, its suspension, cancellation, expiry and deletion.

use chrono::{Duration, NaiveDate};
use rust_decimal::Decimal;

use super::calendar::DateRange;
use super::catalog::{MAX_SEATS, usage_units_problem};
use super::cause::{self, Cause, SeatSide};
use super::charges::{ChargeLine, ChargeType, Ledger, Sign};
use super::clock::Step;
use super::eligibility::{self, PurchaseFacts, role_message, seats_message};
use super::event::{Applied, Checks, FamilyEvent};
use super::lines::{first_period_charge, push_nonzero, usage_line_until};
use super::money::{Uncomputable, chargeable, checked_add, usage_amount};
use super::order::OrderEvent;
use super::policy::Policy;
use super::reject::{Reject, RejectCode};
use super::subscription::{State, Subscription};
use super::vocabulary::{Action, Status};

/// A base subscription and its add-ons, with what has been charged to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// The base subscription's id.
    pub id: String,
    /// The base first, then its add-ons in purchase order.
    pub members: Vec<Subscription>,
    pub ledger: Ledger,
}

fn reject<T>(code: RejectCode, message: String) -> Result<T, Reject> {
    Err(Reject::new(code, message))
}

/// The reject of a row whose charges cannot be computed exactly (SPEC section 9).
fn uncomputable(order: &OrderEvent) -> Reject {
    let quantity = order
        .quantity
        .map_or(String::new(), |q| format!(" (quantity {q})"));
    Reject::new(
        RejectCode::InvalidQuantity,
        format!(
            "the charges of this {}{quantity} cannot be computed exactly: an amount would exceed \
             1,000,000,000,000,000 or need more than 28 digits",
            order.action
        ),
    )
}

impl From<Uncomputable> for Reject {
    fn from(_: Uncomputable) -> Reject {
        Reject::new(
            RejectCode::InvalidQuantity,
            "the charges cannot be computed exactly: an amount would exceed \
             1,000,000,000,000,000 or need more than 28 digits",
        )
    }
}

fn next_day(date: NaiveDate) -> NaiveDate {
    date.succ_opt().expect("dates stay inside chrono's range")
}

fn previous_day(date: NaiveDate) -> NaiveDate {
    date.pred_opt().expect("dates stay inside chrono's range")
}

/// Retention days of a suspended subscription's data: 90 plus the days from the account's
/// opening to the customer's first billing period, at most 120 (a negative gap counts as 0).
pub fn retention_days(account_opened_on: NaiveDate, first_paid_start: Option<NaiveDate>) -> u32 {
    let gap = first_paid_start.map_or(0, |start| (start - account_opened_on).num_days().max(0));
    u32::try_from((90 + gap).min(120)).expect("between 90 and 120")
}

/// The start of a customer's first billing period as known at `at`: the earliest paid start
/// (planned, for a trial) among the subscriptions bought by then, leaving out those that ended
/// before their paid start.
pub fn first_paid_start<'a>(
    subscriptions: impl Iterator<Item = &'a Subscription>,
    at: chrono::DateTime<chrono::Utc>,
) -> Option<NaiveDate> {
    subscriptions
        .filter(|s| s.purchased_at <= at)
        .filter_map(|s| {
            let planned = s.planned_paid_start()?;
            let ended_unpaid = s.state.paid_start.is_none() && s.state.status.is_ended();
            (!ended_unpaid).then_some(planned)
        })
        .min()
}

impl Family {
    /// A family with no subscription yet (a base purchase fills it).
    pub fn empty(id: impl Into<String>) -> Family {
        Family {
            id: id.into(),
            members: Vec::new(),
            ledger: Ledger::default(),
        }
    }

    /// The base subscription, once bought.
    pub fn base(&self) -> Option<&Subscription> {
        self.members.first()
    }

    /// A member by id.
    pub fn member(&self, id: &str) -> Option<&Subscription> {
        self.members.iter().find(|m| m.id == id)
    }

    fn index_of(&self, id: &str) -> Option<usize> {
        self.members.iter().position(|m| m.id == id)
    }

    /// Indexes of the base's add-ons.
    fn addon_indexes(&self) -> Vec<usize> {
        (1..self.members.len()).collect()
    }

    // ------------------------------------------------------------------ order events

    /// Applies one order event at its time. `Err` means the row is rejected and nothing
    /// changed; `Ok` carries the charge lines it made (already recorded in the ledger).
    pub fn apply(
        &mut self,
        event: &FamilyEvent,
        checks: Checks<'_>,
        policy: &Policy,
    ) -> Result<Applied, Reject> {
        let mut lines = Vec::new();
        let before = self.clone();
        let result = self
            .apply_inner(event, checks, policy, &mut lines)
            .and_then(|retention| {
                // Whatever the row held, every charge its family can make from now on (periods,
                // renewals, conversions, usage) must compute: otherwise the row is rejected
                // here, and the start-of-day transitions never meet an uncomputable charge.
                self.charges_computable()
                    .map(|()| retention)
                    .map_err(|_| uncomputable(&event.order))
            });
        match result {
            Ok(retention_days) => {
                for line in &lines {
                    self.ledger.record(line);
                }
                Ok(Applied {
                    lines,
                    retention_days,
                })
            }
            Err(reject) => {
                *self = before;
                Err(reject)
            }
        }
    }

    /// Whether every live member's charges compute: a license's full period at its seats, a
    /// metered subscription's units recorded so far.
    fn charges_computable(&self) -> Result<(), Uncomputable> {
        for member in self.members.iter().filter(|m| m.state.is_live()) {
            let price = member.terms.unit_price;
            if member.is_license() {
                chargeable(price, member.state.quantity.unwrap_or(Decimal::ZERO))?;
            } else {
                usage_amount(member.state.usage_units, price)?;
            }
        }
        Ok(())
    }

    /// Applies the event; returns the retention days a suspension resolved.
    fn apply_inner(
        &mut self,
        event: &FamilyEvent,
        checks: Checks<'_>,
        policy: &Policy,
        lines: &mut Vec<ChargeLine>,
    ) -> Result<Option<u32>, Reject> {
        let order = &event.order;
        if order.action == Action::Purchase {
            return self.purchase(event, checks, policy, lines).map(|()| None);
        }
        let target = event.target();
        let Some(index) = self
            .index_of(&target)
            .filter(|&i| self.members[i].customer_id == order.customer_id)
        else {
            return reject(
                RejectCode::UnknownSubscription,
                format!(
                    "subscription {target} does not exist for customer {}",
                    order.customer_id
                ),
            );
        };
        if let Checks::Full(_) = checks
            && !policy.permits(order.action, &order.requested_by)
        {
            return reject(
                RejectCode::RoleNotPermitted,
                role_message(order.action, &order.requested_by),
            );
        }
        let date = order.event_date();
        let cause = event.cause();
        let mut resolved = None;
        match order.action {
            Action::Purchase => unreachable!("handled above"),
            Action::ChangeQuantity => {
                let quantity = order
                    .quantity
                    .expect("change_quantity rows carry a quantity (parse_row)");
                self.change_quantity(index, quantity, date, &cause, checks, lines)
            }
            Action::Suspend => {
                let retention = match (event.retention_days, checks) {
                    (Some(days), _) => days,
                    (None, Checks::Full(facts)) => {
                        // The customer's first paid start: its other families' (from the
                        // facts) or this family's own, as the family stands right now.
                        let own = first_paid_start(self.members.iter(), order.event_time);
                        let first = [own, facts.first_paid_start_elsewhere].into_iter().flatten().min();
                        let opened = facts.customer.map(|c| c.account_opened_on);
                        opened.map_or(90, |opened| retention_days(opened, first))
                    }
                    (None, Checks::Replay { .. }) => panic!(
                        "a replayed suspension carries the retention days resolved when it was accepted"
                    ),
                };
                resolved = Some(retention);
                self.suspend(index, date, retention, &cause, lines)
            }
            Action::Reactivate => self.reactivate(index, date, &cause, lines),
            Action::Cancel => self.cancel(index, event, policy, lines),
            Action::SetAutoRenew => {
                let on = order
                    .auto_renew
                    .expect("set_auto_renew rows carry auto_renew (parse_row)");
                self.set_auto_renew(index, on)
            }
            Action::Usage => {
                let units = order
                    .quantity
                    .expect("usage rows carry a quantity (parse_row)");
                self.record_usage(index, units)
            }
        }
        .map(|()| resolved)
    }

    fn purchase(
        &mut self,
        event: &FamilyEvent,
        checks: Checks<'_>,
        policy: &Policy,
        lines: &mut Vec<ChargeLine>,
    ) -> Result<(), Reject> {
        let order = &event.order;
        let base = order
            .base_subscription_id
            .as_deref()
            .and_then(|id| self.member(id))
            .filter(|b| b.customer_id == order.customer_id);
        let sub = match checks {
            Checks::Full(facts) => {
                let purchase = PurchaseFacts {
                    customer: facts.customer,
                    offer: facts.offer,
                    base,
                    holdings: facts.holdings,
                };
                eligibility::check_purchase(order, &purchase, policy)?;
                let offer = facts
                    .offer
                    .expect("eligibility passed, so the offer is known");
                Subscription::bought(order, offer, base.filter(|_| offer.is_addon))
            }
            Checks::Replay { seed } => {
                let seed = seed.expect("a replayed purchase brings the subscription it created");
                if seed.is_addon() {
                    match base {
                        Some(b) if b.state.status == Status::Active => {}
                        _ => {
                            return reject(
                                RejectCode::BaseNotActive,
                                format!(
                                    "base subscription of {} is not active at {}",
                                    seed.id, order.event_time
                                ),
                            );
                        }
                    }
                }
                let mut sub = seed.clone();
                sub.state = State::initial(order.quantity);
                sub
            }
        };
        if self.member(&sub.id).is_some() {
            return reject(
                RejectCode::DuplicateLine,
                format!("subscription {} exists already", sub.id),
            );
        }
        let date = order.event_date();
        let base_state = sub
            .parent
            .as_ref()
            .and_then(|p| self.member(p))
            .map(|b| b.state.clone());
        let mut sub = sub;
        match base_state {
            // An add-on bought during its base's trial is free until the base converts.
            Some(base) if base.in_trial => {
                sub.state.in_trial = true;
                sub.state.trial_end = base.trial_end;
            }
            Some(base) => {
                sub.state.paid_start = Some(date);
                sub.state.anchor = base.anchor;
            }
            None if sub.terms.trial_days > 0 => {
                sub.state.in_trial = true;
                let last_day = date
                    .checked_add_signed(Duration::days(i64::from(sub.terms.trial_days) - 1))
                    .ok_or_else(|| {
                        Reject::new(
                            RejectCode::InvalidTransition,
                            format!(
                                "a trial of {} days from {date} ends beyond the calendar",
                                sub.terms.trial_days
                            ),
                        )
                    })?;
                sub.state.trial_end = Some(last_day);
            }
            None => {
                sub.state.paid_start = Some(date);
                sub.state.anchor = Some(date);
            }
        }
        if !sub.state.in_trial
            && let Some(line) = first_period_charge(&sub, date, &Cause::Purchase.to_string())
                .map_err(|_| uncomputable(order))?
        {
            lines.push(line);
        }
        self.members.push(sub);
        Ok(())
    }

    fn change_quantity(
        &mut self,
        index: usize,
        quantity: Decimal,
        date: NaiveDate,
        cause: &str,
        checks: Checks<'_>,
        lines: &mut Vec<ChargeLine>,
    ) -> Result<(), Reject> {
        let sub = &self.members[index];
        if !sub.is_license() {
            return reject(
                RejectCode::InvalidTransition,
                format!("{} is metered: it has no seats to change", sub.id),
            );
        }
        if sub.state.status != Status::Active {
            return reject(
                RejectCode::InvalidTransition,
                format!(
                    "{} is {}: only an active subscription's seats can change",
                    sub.id, sub.state.status
                ),
            );
        }
        if let Checks::Full(facts) = checks {
            let valid = match facts.offer {
                Some(offer) => offer.accepts_seats(quantity),
                None => {
                    quantity.fract().is_zero()
                        && quantity >= Decimal::ONE
                        && quantity <= Decimal::from(MAX_SEATS)
                }
            };
            if !valid {
                let message = match facts.offer {
                    Some(offer) => seats_message(offer, Some(quantity)),
                    None => format!(
                        "quantity {quantity}: seats must be a whole number from 1 to {MAX_SEATS}"
                    ),
                };
                return reject(RejectCode::InvalidQuantity, message);
            }
        }
        let old = sub.state.quantity.unwrap_or(Decimal::ZERO);
        if !sub.state.in_trial
            && old != quantity
            && let (Some(period), Some(paid_start)) = (sub.period_at(date), sub.state.paid_start)
        {
            let range = DateRange::new(date.max(paid_start), period.end);
            let (id, price) = (sub.id.clone(), sub.terms.unit_price);
            for (q, sign, side) in [
                (old, Sign::Credit, SeatSide::Old),
                (quantity, Sign::Charge, SeatSide::New),
            ] {
                lines.push(ChargeLine::prorated(
                    &id,
                    ChargeType::CycleInstanceProrate,
                    range,
                    period.days(),
                    price,
                    q,
                    sign,
                    cause::seats_cause(cause, side),
                )?);
            }
        }
        self.members[index].state.quantity = Some(quantity);
        Ok(())
    }

    fn suspend(
        &mut self,
        index: usize,
        date: NaiveDate,
        retention_days: u32,
        cause: &str,
        lines: &mut Vec<ChargeLine>,
    ) -> Result<(), Reject> {
        let sub = &self.members[index];
        if sub.state.status != Status::Active {
            return reject(
                RejectCode::InvalidTransition,
                format!(
                    "{} is {}: only an active subscription can be suspended",
                    sub.id, sub.state.status
                ),
            );
        }
        let expires = date
            .checked_add_signed(Duration::days(i64::from(retention_days)))
            .ok_or_else(|| {
                Reject::new(
                    RejectCode::InvalidTransition,
                    format!("{date} is too close to the end of the calendar to suspend"),
                )
            })?;
        self.suspend_one(index, date, expires, false, cause, lines)?;
        if index == 0 {
            for addon in self.addon_indexes() {
                if self.members[addon].state.status == Status::Active {
                    self.suspend_one(addon, date, expires, true, cause, lines)?;
                }
            }
        }
        Ok(())
    }

    /// Suspends one member and credits it: the whole net amount of the current period when
    /// suspended less than 30 days into the term, otherwise the rest of the period.
    fn suspend_one(
        &mut self,
        index: usize,
        date: NaiveDate,
        expires: NaiveDate,
        with_base: bool,
        cause: &str,
        lines: &mut Vec<ChargeLine>,
    ) -> Result<(), Uncomputable> {
        let sub = &self.members[index];
        if sub.is_license()
            && !sub.state.in_trial
            && let (Some(period), Some(billed), Some(days_in)) = (
                sub.period_at(date),
                sub.billed_period_at(date),
                sub.days_into_term(date),
            )
        {
            let quantity = sub.state.quantity.unwrap_or(Decimal::ZERO);
            let line = if days_in < 30 {
                let net = self.ledger.net_within(&sub.id, &billed)?;
                ChargeLine {
                    subscription_id: sub.id.clone(),
                    charge_type: ChargeType::CancelFee,
                    range: billed,
                    billable_days: billed.days(),
                    period_days: period.days(),
                    unit_price: sub.terms.unit_price,
                    quantity,
                    amount: -net,
                    cause: cause.to_string(),
                }
            } else {
                ChargeLine::prorated(
                    &sub.id,
                    ChargeType::CancelFee,
                    billed.from(date),
                    period.days(),
                    sub.terms.unit_price,
                    quantity,
                    Sign::Credit,
                    cause,
                )?
            };
            push_nonzero(lines, line);
        }
        let state = &mut self.members[index].state;
        state.status = Status::Suspended;
        state.suspended_on = Some(date);
        state.data_expires_on = Some(expires);
        state.suspended_with_base = with_base;
        Ok(())
    }

    fn reactivate(
        &mut self,
        index: usize,
        date: NaiveDate,
        cause: &str,
        lines: &mut Vec<ChargeLine>,
    ) -> Result<(), Reject> {
        let sub = &self.members[index];
        let state = &sub.state;
        if state.status == Status::Deleted {
            return reject(
                RejectCode::DataExpired,
                format!(
                    "{}'s data was deleted on {}",
                    sub.id,
                    state.ended_on.map_or("?".into(), |d| d.to_string())
                ),
            );
        }
        if state.status != Status::Suspended {
            return reject(
                RejectCode::InvalidTransition,
                format!(
                    "{} is {}: only a suspended subscription can be reactivated",
                    sub.id, state.status
                ),
            );
        }
        if let Some(expires) = state.data_expires_on
            && date >= expires
        {
            return reject(
                RejectCode::DataExpired,
                format!("{}'s data expired on {expires}", sub.id),
            );
        }
        if index > 0 && self.members[0].state.status == Status::Suspended {
            return reject(
                RejectCode::InvalidTransition,
                format!(
                    "{} cannot be active while its base {} is suspended: reactivate the base",
                    sub.id, self.members[0].id
                ),
            );
        }
        self.reactivate_one(index, date, cause, lines)?;
        if index == 0 {
            for addon in self.addon_indexes() {
                let s = &self.members[addon].state;
                if s.status == Status::Suspended && s.suspended_with_base {
                    self.reactivate_one(addon, date, cause, lines)?;
                }
            }
        }
        Ok(())
    }

    /// Reactivates one member and charges it: the whole current period when less than 30
    /// days into the term, otherwise the rest of the period. A trial whose conversion came while
    /// it was suspended converts now.
    fn reactivate_one(
        &mut self,
        index: usize,
        date: NaiveDate,
        cause: &str,
        lines: &mut Vec<ChargeLine>,
    ) -> Result<(), Uncomputable> {
        {
            let state = &mut self.members[index].state;
            state.status = Status::Active;
            state.suspended_on = None;
            state.data_expires_on = None;
            state.suspended_with_base = false;
        }
        if self.members[index].state.in_trial {
            if self.conversion_due(index, date) {
                self.convert(index, date, lines)?;
            }
            return Ok(());
        }
        let sub = &self.members[index];
        if !sub.is_license() {
            return Ok(());
        }
        if let (Some(period), Some(billed), Some(days_in)) = (
            sub.period_at(date),
            sub.billed_period_at(date),
            sub.days_into_term(date),
        ) {
            let range = if days_in < 30 {
                billed
            } else {
                billed.from(date)
            };
            let quantity = sub.state.quantity.unwrap_or(Decimal::ZERO);
            let line = ChargeLine::prorated(
                &sub.id,
                ChargeType::ActivationFee,
                range,
                period.days(),
                sub.terms.unit_price,
                quantity,
                Sign::Charge,
                cause,
            )?;
            push_nonzero(lines, line);
        }
        Ok(())
    }

    fn cancel(
        &mut self,
        index: usize,
        event: &FamilyEvent,
        policy: &Policy,
        lines: &mut Vec<ChargeLine>,
    ) -> Result<(), Reject> {
        let sub = &self.members[index];
        let order = &event.order;
        let date = order.event_date();
        if !sub.state.is_live() {
            return reject(
                RejectCode::InvalidTransition,
                format!("{} is {} already", sub.id, sub.state.status),
            );
        }
        let immediate = !sub.is_license()
            || sub.state.in_trial
            || order.event_time - sub.purchased_at < policy.cancel_window(sub.terms.frequency);
        let cause = event.cause();
        if immediate {
            self.end_now(index, date, Status::Cancelled, date, &cause, lines)?;
            if index == 0 {
                for addon in self.addon_indexes() {
                    if self.members[addon].state.is_live() {
                        self.end_now(addon, date, Status::Cancelled, date, &cause, lines)?;
                    }
                }
            }
            return Ok(());
        }
        if sub.state.cancel_at_term_end {
            let term_end = sub
                .term_at(date)
                .map_or("its term end".to_string(), |t| t.end.to_string());
            return reject(
                RejectCode::InvalidTransition,
                format!("{} is already cancelled at {term_end}", sub.id),
            );
        }
        schedule_cancellation(&mut self.members[index].state, false);
        if index == 0 {
            for addon in self.addon_indexes() {
                let state = &mut self.members[addon].state;
                if state.is_live() && !state.cancel_at_term_end {
                    schedule_cancellation(state, true);
                }
            }
        }
        Ok(())
    }

    /// Ends a member on `date`: a cancelled license is credited everything charged so far (a
    /// trial had nothing charged); metered usage is billed up to `usage_through`.
    fn end_now(
        &mut self,
        index: usize,
        date: NaiveDate,
        status: Status,
        usage_through: NaiveDate,
        cause: &str,
        lines: &mut Vec<ChargeLine>,
    ) -> Result<(), Uncomputable> {
        let sub = &self.members[index];
        if sub.is_license() {
            if status == Status::Cancelled {
                for entry in self.ledger.open_entries(&sub.id) {
                    lines.push(ChargeLine {
                        charge_type: ChargeType::CancelFee,
                        amount: -entry.amount,
                        cause: cause::refund_cause(cause, entry.charge_type, &entry.cause),
                        ..entry
                    });
                }
            }
        } else if let Some(line) = usage_line_until(
            sub,
            usage_through,
            ChargeType::UsageCancel,
            &Cause::Usage.to_string(),
        )? {
            lines.push(line);
        }
        let state = &mut self.members[index].state;
        state.status = status;
        state.ended_on = Some(date);
        state.usage_units = Decimal::ZERO;
        Ok(())
    }

    fn set_auto_renew(&mut self, index: usize, on: bool) -> Result<(), Reject> {
        let sub = &self.members[index];
        if !sub.state.is_live() {
            return reject(
                RejectCode::InvalidTransition,
                format!("{} is {}", sub.id, sub.state.status),
            );
        }
        let state = &mut self.members[index].state;
        state.auto_renew = on;
        if on {
            state.cancel_at_term_end = false;
            state.cancel_with_base = false;
            if index == 0 {
                for addon in self.addon_indexes() {
                    let state = &mut self.members[addon].state;
                    if state.cancel_with_base && state.is_live() {
                        state.cancel_at_term_end = false;
                        state.cancel_with_base = false;
                        state.auto_renew = true;
                    }
                }
            }
        }
        Ok(())
    }

    fn record_usage(&mut self, index: usize, units: Decimal) -> Result<(), Reject> {
        let sub = &self.members[index];
        if sub.is_license() {
            return reject(
                RejectCode::InvalidTransition,
                format!("{} is a license subscription: usage does not apply", sub.id),
            );
        }
        if sub.state.status != Status::Active || sub.state.in_trial || sub.state.anchor.is_none() {
            let status = if sub.state.in_trial {
                "in trial".to_string()
            } else {
                sub.state.status.to_string()
            };
            return reject(
                RejectCode::InvalidTransition,
                format!(
                    "{} is {status}: usage is recorded only on an active, paid subscription",
                    sub.id
                ),
            );
        }
        if let Some(problem) = usage_units_problem(units) {
            return reject(RejectCode::InvalidQuantity, problem);
        }
        let units_so_far = self.members[index].state.usage_units;
        self.members[index].state.usage_units =
            checked_add(units_so_far, units).map_err(Reject::from)?;
        Ok(())
    }

    // ------------------------------------------------------------------ the calendar

    /// Applies the transitions of `step` that take effect at the start of `date`.
    ///
    /// Every charge a transition makes computes: [`Family::apply`] rejects any row after which
    /// one would not (the seats of a license over a whole period, a metered subscription's units
    /// so far), and a transition charges only those.
    pub fn start_of_day(&mut self, date: NaiveDate, step: Step) -> Vec<ChargeLine> {
        let mut lines = Vec::new();
        let done = match step {
            Step::TrialConversions => self.convert_trials(date, &mut lines),
            Step::Renewals => (0..self.members.len())
                .try_for_each(|index| self.roll_over(index, date, &mut lines)),
            Step::SuspensionExpiry => self.expire_data(date, &mut lines),
            Step::Orders => Ok(()),
        };
        done.expect("a family's charges were checked computable when its rows were accepted");
        for line in &lines {
            self.ledger.record(line);
        }
        lines
    }

    /// Whether a trial member converts on `date`: a base the day after its trial; an add-on
    /// once its base is paid.
    fn conversion_due(&self, index: usize, date: NaiveDate) -> bool {
        let state = &self.members[index].state;
        if !state.in_trial || state.status != Status::Active {
            return false;
        }
        if index == 0 {
            state.trial_end.is_some_and(|end| end < date)
        } else {
            self.members[0].state.anchor.is_some() && !self.members[0].state.in_trial
        }
    }

    fn convert_trials(
        &mut self,
        date: NaiveDate,
        lines: &mut Vec<ChargeLine>,
    ) -> Result<(), Uncomputable> {
        for index in 0..self.members.len() {
            if self.conversion_due(index, date) {
                self.convert(index, date, lines)?;
            }
        }
        Ok(())
    }

    /// Ends a member's trial: it is paid from `date`, on its own calendar (a base) or its
    /// base's (an add-on), and its first period is charged.
    fn convert(
        &mut self,
        index: usize,
        date: NaiveDate,
        lines: &mut Vec<ChargeLine>,
    ) -> Result<(), Uncomputable> {
        let anchor = if index == 0 {
            Some(date)
        } else {
            self.members[0].state.anchor
        };
        let state = &mut self.members[index].state;
        state.in_trial = false;
        state.paid_start = Some(date);
        state.anchor = anchor;
        if let Some(line) =
            first_period_charge(&self.members[index], date, &Cause::Conversion.to_string())?
        {
            lines.push(line);
        }
        Ok(())
    }

    /// A new billing period: bill the metered usage of the one that ended, then end the term
    /// (cancel, expire) or renew it, or charge the new period.
    fn roll_over(
        &mut self,
        index: usize,
        date: NaiveDate,
        lines: &mut Vec<ChargeLine>,
    ) -> Result<(), Uncomputable> {
        let sub = &self.members[index];
        let due = sub.state.is_live()
            && sub.state.paid_start.is_some_and(|p| p < date)
            && sub.periods().is_some_and(|p| p.starts_on(date));
        if !due {
            return Ok(());
        }
        let before = previous_day(date);
        if let Some(line) = usage_line_until(
            sub,
            before,
            ChargeType::UsageCycle,
            &Cause::Usage.to_string(),
        )? {
            lines.push(line);
        }
        self.members[index].state.usage_units = Decimal::ZERO;
        let sub = &self.members[index];
        let term_ends = sub.terms_schedule().is_some_and(|t| t.starts_on(date));
        let base = &self.members[0].state;
        let end_with_base = index > 0 && base.status.is_ended() && base.ended_on == Some(date);
        let ending = if !term_ends {
            None
        } else if end_with_base {
            Some(base.status)
        } else if sub.state.cancel_at_term_end {
            Some(Status::Cancelled)
        } else if !sub.state.auto_renew {
            Some(Status::Expired)
        } else {
            None
        };
        if let Some(status) = ending {
            let state = &mut self.members[index].state;
            state.status = status;
            state.ended_on = Some(date);
            return Ok(());
        }
        if sub.state.status == Status::Active && sub.is_license() && !sub.state.in_trial {
            let charge_type = if term_ends {
                ChargeType::RenewFee
            } else {
                ChargeType::CycleFee
            };
            let cause = if term_ends {
                Cause::Renewal
            } else {
                Cause::Period
            };
            if let Some(line) = first_period_charge(sub, date, &cause.to_string())? {
                lines.push(ChargeLine {
                    charge_type,
                    ..line
                });
            }
        }
        Ok(())
    }

    /// Deletes the members whose suspended data expires on `date` (all of a family whose base
    /// is deleted).
    fn expire_data(
        &mut self,
        date: NaiveDate,
        lines: &mut Vec<ChargeLine>,
    ) -> Result<(), Uncomputable> {
        for index in 0..self.members.len() {
            let state = &self.members[index].state;
            let base_deleted_today = index > 0
                && self.members[0].state.status == Status::Deleted
                && self.members[0].state.ended_on == Some(date);
            let own_expiry = state.status == Status::Suspended
                && state.data_expires_on.is_some_and(|d| d <= date);
            if (own_expiry || base_deleted_today) && state.is_live() {
                self.end_now(
                    index,
                    date,
                    Status::Deleted,
                    previous_day(date),
                    &Cause::Deletion.to_string(),
                    lines,
                )?;
            }
        }
        Ok(())
    }

    /// The first date after `date` on which a transition of this family could fall (a period
    /// start, a trial conversion or a data expiry): days in between need no work.
    pub fn next_transition_after(&self, date: NaiveDate) -> Option<NaiveDate> {
        let after = next_day(date);
        self.members
            .iter()
            .filter(|m| m.state.is_live())
            .filter_map(|m| {
                let s = &m.state;
                let period = m.periods().map(|p| {
                    let current = p.containing(after);
                    if current.start >= after {
                        current.start
                    } else {
                        next_day(current.end)
                    }
                });
                let conversion = s.trial_end.filter(|_| s.in_trial).map(next_day);
                let expiry = s.data_expires_on.filter(|_| s.status == Status::Suspended);
                [period, conversion, expiry]
                    .into_iter()
                    .flatten()
                    .map(|d| d.max(after))
                    .min()
            })
            .min()
    }
}

fn schedule_cancellation(state: &mut State, with_base: bool) {
    state.cancel_at_term_end = true;
    state.cancel_with_base = with_base;
    state.auto_renew = false;
}
