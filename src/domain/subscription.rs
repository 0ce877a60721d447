//! A subscription: the terms fixed at purchase and the state the lifecycle moves it through,
//! with its billing calendar derived from the anchor date (SPEC section 5), and the subscription
//! a purchase creates.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::calendar::{DateRange, Schedule};
use super::catalog::Offer;
use super::order::OrderEvent;
use super::vocabulary::{BillingFrequency, BillingType, Status};

/// Price and calendar, copied from the catalog when the subscription is bought: a later
/// catalog change never re-prices an existing subscription. Add-ons take the base's billing
/// frequency and term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    pub billing_type: BillingType,
    pub frequency: BillingFrequency,
    pub term_months: u32,
    pub unit_price: Decimal,
    pub currency: String,
    /// Free days before the paid start (0: none). Add-ons and usage offers never have their own.
    pub trial_days: u32,
}

/// One subscription and its current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    /// The base subscription of the family (the subscription itself for a base).
    pub family_id: String,
    /// The base, for an add-on.
    pub parent: Option<String>,
    pub customer_id: String,
    pub offer_id: String,
    pub order_id: String,
    pub order_line: u32,
    /// Event time of the purchase row: cancellation windows count from it.
    pub purchased_at: DateTime<Utc>,
    pub terms: Terms,
    pub state: State,
}

/// What changes over a subscription's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub status: Status,
    pub in_trial: bool,
    /// Seats (license); `None` for usage subscriptions.
    pub quantity: Option<Decimal>,
    pub auto_renew: bool,
    /// A cancel after the window: the subscription ends at its term end.
    pub cancel_at_term_end: bool,
    /// The scheduled cancellation came from the base (withdrawn with the base's).
    pub cancel_with_base: bool,
    /// Last day of the trial.
    pub trial_end: Option<NaiveDate>,
    /// First paid day: purchase date, conversion date for a trial, for an add-on the later of
    /// its purchase and its base's conversion.
    pub paid_start: Option<NaiveDate>,
    /// The calendar anchor: periods and terms repeat from it. An add-on uses its base's.
    pub anchor: Option<NaiveDate>,
    pub suspended_on: Option<NaiveDate>,
    /// Suspended because its base was (and reactivated with it).
    pub suspended_with_base: bool,
    /// First day on which a suspended subscription's data is gone.
    pub data_expires_on: Option<NaiveDate>,
    /// The date its end took effect (cancel date, term end + 1, data-expiry date).
    pub ended_on: Option<NaiveDate>,
    /// Metered units recorded in the current period and not billed yet.
    pub usage_units: Decimal,
}

impl Subscription {
    /// Whether it is an add-on.
    pub fn is_addon(&self) -> bool {
        self.parent.is_some()
    }

    /// Whether it is billed in advance per seat.
    pub fn is_license(&self) -> bool {
        self.terms.billing_type == BillingType::License
    }

    /// The billing-period schedule, once the paid calendar is known.
    pub fn periods(&self) -> Option<Schedule> {
        self.state
            .anchor
            .map(|a| Schedule::new(a, self.terms.frequency.months()))
    }

    /// The term schedule, once the paid calendar is known.
    pub fn terms_schedule(&self) -> Option<Schedule> {
        self.state
            .anchor
            .map(|a| Schedule::new(a, self.terms.term_months))
    }

    /// The calendar billing period containing `date` (its full length is the proration base).
    pub fn period_at(&self, date: NaiveDate) -> Option<DateRange> {
        self.periods().map(|s| s.containing(date))
    }

    /// The part of the period containing `date` that this subscription pays for: the whole
    /// period, except an add-on's first one, which starts on the add-on's paid start.
    pub fn billed_period_at(&self, date: NaiveDate) -> Option<DateRange> {
        let period = self.period_at(date)?;
        let paid_start = self.state.paid_start?;
        Some(period.from(paid_start.min(period.end)))
    }

    /// The term containing `date`; an add-on's first term starts on its own paid start.
    pub fn term_at(&self, date: NaiveDate) -> Option<DateRange> {
        let term = self.terms_schedule()?.containing(date);
        let paid_start = self.state.paid_start?;
        Some(term.from(paid_start.min(term.end)))
    }

    /// Whole days from the start of the term containing `date` to `date`.
    pub fn days_into_term(&self, date: NaiveDate) -> Option<i64> {
        self.term_at(date).map(|t| (date - t.start).num_days())
    }

    /// The planned first paid day of a trial (the day after it ends).
    pub fn planned_paid_start(&self) -> Option<NaiveDate> {
        self.state
            .paid_start
            .or_else(|| self.state.trial_end.and_then(|d| d.succ_opt()))
    }
}

/// What `subsweep subscriptions` shows for one subscription as of a date (SPEC section 7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionView {
    pub paid_start: Option<NaiveDate>,
    pub term_end: Option<NaiveDate>,
    pub current_period: Option<DateRange>,
}

impl Subscription {
    /// The dates derived from the calendar as of `as_of`. A trial shows its planned paid start
    /// and first term but no current period; an ended subscription shows the term it ended in.
    pub fn view(&self, as_of: NaiveDate) -> SubscriptionView {
        let s = &self.state;
        if s.in_trial {
            let planned = self.planned_paid_start();
            let term_end = planned.map(|p| {
                let months = self.terms.term_months;
                Schedule::new(p, months).containing(p).end
            });
            let term_end = if self.is_addon() { None } else { term_end };
            return SubscriptionView {
                paid_start: planned,
                term_end,
                current_period: None,
            };
        }
        let at = match s.ended_on {
            Some(ended) if s.status.is_ended() => ended.pred_opt().unwrap_or(ended).min(as_of),
            _ => as_of,
        };
        let at = s.paid_start.map_or(at, |p| at.max(p));
        let current_period = if s.status.is_ended() {
            None
        } else {
            self.billed_period_at(at)
        };
        SubscriptionView {
            paid_start: s.paid_start,
            term_end: self.term_at(at).map(|t| t.end),
            current_period,
        }
    }
}

impl Subscription {
    /// The subscription a purchase creates, with its terms copied from the catalog (an add-on
    /// takes its base's billing frequency and term; add-ons and metered offers have no trial
    /// of their own). Its state is set when the purchase is applied.
    pub fn bought(event: &OrderEvent, offer: &Offer, base: Option<&Subscription>) -> Subscription {
        let id = event.target_subscription();
        let (frequency, term_months) = match base {
            Some(base) => (base.terms.frequency, base.terms.term_months),
            None => (offer.billing_frequency, offer.term_months),
        };
        let trial_days = if base.is_some() || offer.billing_type == BillingType::Usage {
            0
        } else {
            offer.trial_days
        };
        Subscription {
            family_id: base.map_or_else(|| id.clone(), |b| b.family_id.clone()),
            parent: base.map(|b| b.id.clone()),
            customer_id: event.customer_id.clone(),
            offer_id: offer.offer_id.clone(),
            order_id: event.order_id.clone(),
            order_line: event.line,
            purchased_at: event.event_time,
            terms: Terms {
                billing_type: offer.billing_type,
                frequency,
                term_months,
                unit_price: offer.unit_price,
                currency: offer.currency.clone(),
                trial_days,
            },
            state: State::initial(event.quantity),
            id,
        }
    }
}

impl State {
    /// A subscription's state before its purchase is applied.
    pub(super) fn initial(quantity: Option<Decimal>) -> State {
        State {
            status: Status::Active,
            in_trial: false,
            quantity,
            auto_renew: true,
            cancel_at_term_end: false,
            cancel_with_base: false,
            trial_end: None,
            paid_start: None,
            anchor: None,
            suspended_on: None,
            suspended_with_base: false,
            data_expires_on: None,
            ended_on: None,
            usage_units: Decimal::ZERO,
        }
    }

    pub(super) fn is_live(&self) -> bool {
        !self.status.is_ended()
    }
}
