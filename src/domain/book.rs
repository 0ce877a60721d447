//! A day's order events applied to a set of subscription families: the whole of apply-orders'
//! business logic, as a pure value. The shell loads what the rules read, in the steps
//! `domain::needs` describes (needs → fetch → plan → fetch → apply), and writes back what
//! changed; tests run whole months through one `Book` holding everything.
//!
//! An event is applied on the fast path when it comes in order: dated on the day being run,
//! after everything its family has seen, with the state clock right before that day's orders.
//! Otherwise its family takes the full path: its history is replayed with the event in place
//! (`replay::admit`) and the difference from what was posted is posted (`posting::postings`),
//! so a late event is billed as if it had been applied on its own date. Which path each event
//! takes is decided once, by [`Book::plan`], and [`Book::apply`] follows the plan.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};

use super::catalog::{Customer, Offer};
use super::charges::ChargeLine;
use super::clock::{Moment, Step};
use super::eligibility::Holdings;
use super::event::{Checks, EventFacts, FamilyEvent};
use super::lifecycle::{Family, first_paid_start};
use super::policy::Policy;
use super::posting::{PostedLine, Posting, ledger_from_posted, postings};
use super::reject::Reject;
use super::replay::{ReplayEvent, admit};
use super::subscription::Subscription;
use super::vocabulary::{Action, Status};

/// The book's own maps, keyed by ids, looked up several times per event: hashed with foldhash
/// (SipHash, the standard library's default, was 5% of apply-orders' CPU on the purchase day
/// of a million orders). The ids come from the partner's files, not from the network.
type FastMap<K, V> = foldhash::HashMap<K, V>;

/// The reject of a row that apply-orders for `date` takes although it is dated more than
/// `max_late_days` days before `date` (SPEC section 9): it is about the row's date, so it is
/// decided before any rule, and only when the row is taken, so backfill and nightly agree.
pub fn out_of_range(
    order: &super::order::OrderEvent,
    date: NaiveDate,
    max_late_days: u32,
) -> Option<Reject> {
    let earliest = date.checked_sub_days(chrono::Days::new(u64::from(max_late_days)))?;
    let event_date = order.event_date();
    (event_date < earliest).then(|| {
        Reject::new(
            super::reject::RejectCode::EventOutOfRange,
            format!(
                "dated {event_date}, more than {max_late_days} days before {date}, the day \
                 being run (earliest accepted: {earliest}); check the year, or raise \
                 [intake] max_late_days in jobs.toml"
            ),
        )
    })
}

/// The rows apply-orders for `date` takes, split: those the rules will see, and those dated
/// more than `max_late_days` before `date`, rejected before any rule ([`out_of_range`]).
pub fn take_in_range(
    events: Vec<FamilyEvent>,
    date: NaiveDate,
    max_late_days: u32,
) -> (Vec<FamilyEvent>, Vec<(FamilyEvent, Reject)>) {
    let mut taken = Vec::with_capacity(events.len());
    let mut too_old = Vec::new();
    for event in events {
        match out_of_range(&event.order, date, max_late_days) {
            Some(reject) => too_old.push((event, reject)),
            None => taken.push(event),
        }
    }
    (taken, too_old)
}

/// What a family's full path needs: its accepted events and its posted lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    pub events: Vec<FamilyEvent>,
    pub posted: Vec<PostedLine>,
}

impl History {
    /// Records lines just posted, each under the book's next line id: the one step start of
    /// day, the fast path and the full path share. (The store numbers the lines it keeps; these
    /// ids only have to be distinct within the book, for offsets to name the line they correct.)
    fn record<'a>(
        &mut self,
        postings: impl IntoIterator<Item = &'a Posting>,
        next_line_id: &mut i64,
    ) {
        for posting in postings {
            let corrects = match posting {
                Posting::New(_) => None,
                Posting::Offset { corrects, .. } => Some(*corrects),
            };
            self.posted.push(PostedLine {
                line_id: *next_line_id,
                line: posting.line().clone(),
                corrects,
            });
            *next_line_id += 1;
        }
    }
}

/// Which families' histories a book keeps, so that they can take the full path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryMode {
    /// Only the histories handed in (apply-orders: a family taking the full path comes with its
    /// history from the store, every other family is its current state and ledger).
    AsLoaded,
    /// Every family's, from the moment it enters the book, families bought in it included (a
    /// book that holds everything, as in tests: any family can take the full path any day).
    KeepAll,
}

/// An event the rules accepted, with what the history must remember of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub event: FamilyEvent,
    pub subscription_id: String,
    pub family_id: String,
}

/// What applying a day's events produced.
#[derive(Debug, Clone, Default)]
pub struct DayOutcome {
    /// Lines to post, in the order made.
    pub postings: Vec<Posting>,
    pub accepted: Vec<Accepted>,
    pub rejected: Vec<(FamilyEvent, Reject)>,
    /// Families whose state changed (to write back).
    pub changed: BTreeSet<String>,
}

/// The subscriptions to write back after a [`DayOutcome`] ([`Book::written`]).
#[derive(Debug, Default)]
pub struct Written<'a> {
    /// Bought by an accepted purchase of the run: new rows.
    pub new: Vec<&'a Subscription>,
    /// The other members of the families whose state changed: their state is rewritten.
    pub existing: Vec<&'a Subscription>,
}

/// How a batch of events is applied, decided once from the events, who owns which
/// subscription, the time of each family's last event and the state clock (step 2 of the
/// protocol, `domain::needs`). Valid for the book that made it, until it is applied.
#[derive(Debug, Clone)]
pub struct Plan {
    date: NaiveDate,
    /// Families taking the full path, each with all its events of the run, in order.
    full_path: BTreeMap<String, Vec<FamilyEvent>>,
    /// Events taking the fast path, in order, with the family each acts on.
    fast: Vec<(String, FamilyEvent)>,
    /// Families taking the full path that the book holds without their history.
    histories: Vec<String>,
}

impl Plan {
    /// The families whose accepted events must be fetched before applying (they take the full
    /// path, the book holds them, and not their history). A family the book does not hold (a
    /// late purchase starts one) replays from nothing.
    pub fn histories(&self) -> &[String] {
        &self.histories
    }

    /// Every family taking the full path.
    pub fn late_families(&self) -> impl Iterator<Item = &str> {
        self.full_path.keys().map(String::as_str)
    }
}

/// What the shell fetched for a plan (step 3 of the protocol, `domain::needs`).
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    /// The lines posted so far to the book's families, by family (a family without lines may
    /// be absent). They become the families' ledgers, and the histories' posted lines.
    pub posted: HashMap<String, Vec<PostedLine>>,
    /// The accepted events, in order, of the families of [`Plan::histories`] (absent: none).
    pub accepted: HashMap<String, Vec<FamilyEvent>>,
}

/// Subscription families and the context the rules read, for one run.
#[derive(Debug, Clone)]
pub struct Book {
    policy: Policy,
    offers: FastMap<String, Offer>,
    customers: FastMap<String, Customer>,
    families: BTreeMap<String, Family>,
    /// The families each customer has a subscription in (or had: a family may have left the
    /// book since), so a customer's subscriptions are found without walking every family.
    customer_families: FastMap<String, BTreeSet<String>>,
    /// Which family each subscription belongs to.
    owner: FastMap<String, String>,
    /// Event time of the last event each family applied.
    last_applied: FastMap<String, DateTime<Utc>>,
    histories: FastMap<String, History>,
    history_mode: HistoryMode,
    /// Where the subscription state stands (the state clock).
    clock: Option<Moment>,
    next_line_id: i64,
}

impl Book {
    /// An empty book keeping histories as loaded. `clock` is where the stored state stands
    /// (None: nothing ran yet).
    pub fn new(
        policy: Policy,
        offers: Vec<Offer>,
        customers: Vec<Customer>,
        clock: Option<Moment>,
    ) -> Book {
        Book {
            policy,
            offers: offers
                .into_iter()
                .map(|o| (o.offer_id.clone(), o))
                .collect(),
            customers: customers
                .into_iter()
                .map(|c| (c.customer_id.clone(), c))
                .collect(),
            families: BTreeMap::new(),
            customer_families: FastMap::default(),
            owner: FastMap::default(),
            last_applied: FastMap::default(),
            histories: FastMap::default(),
            history_mode: HistoryMode::AsLoaded,
            clock,
            next_line_id: 1,
        }
    }

    /// Adds a loaded family: its state and the time of the last event it applied. (Its ledger
    /// and, when it takes the full path, its history come with [`Book::apply`]'s [`Fetched`].)
    pub fn insert_family(&mut self, family: Family, last_applied: Option<DateTime<Utc>>) {
        for member in &family.members {
            self.owner.insert(member.id.clone(), family.id.clone());
        }
        if let Some(t) = last_applied {
            self.last_applied.insert(family.id.clone(), t);
        }
        if self.history_mode == HistoryMode::KeepAll {
            self.histories.entry(family.id.clone()).or_default();
        }
        self.put_family(family.id.clone(), family);
    }

    /// Puts `family` in the book under `id` (replacing what was there), noting its members'
    /// customers.
    fn put_family(&mut self, id: String, family: Family) {
        for member in &family.members {
            self.note_customer(&member.customer_id, &id);
        }
        self.families.insert(id, family);
    }

    /// Notes that `customer_id` has a subscription in family `family_id`.
    fn note_customer(&mut self, customer_id: &str, family_id: &str) {
        match self.customer_families.get_mut(customer_id) {
            Some(ids) => {
                if !ids.contains(family_id) {
                    ids.insert(family_id.to_string());
                }
            }
            None => {
                self.customer_families.insert(
                    customer_id.to_string(),
                    BTreeSet::from([family_id.to_string()]),
                );
            }
        }
    }

    /// Keeps the history of every family from now on ([`HistoryMode::KeepAll`]: for a book that
    /// holds everything, as in tests): those it holds, those inserted or bought later.
    pub fn keep_histories(&mut self) {
        self.history_mode = HistoryMode::KeepAll;
        for id in self.families.keys() {
            self.histories.entry(id.clone()).or_default();
        }
    }

    pub fn history_mode(&self) -> HistoryMode {
        self.history_mode
    }

    /// Whether `family_id`'s history is kept when it changes.
    fn keeps_history(&self, family_id: &str) -> bool {
        self.history_mode == HistoryMode::KeepAll || self.histories.contains_key(family_id)
    }

    fn insert_history(&mut self, family_id: &str, history: History) {
        self.next_line_id = self.next_line_id.max(
            history
                .posted
                .iter()
                .map(|p| p.line_id + 1)
                .max()
                .unwrap_or(1),
        );
        self.histories.insert(family_id.to_string(), history);
    }

    pub fn families(&self) -> impl Iterator<Item = &Family> {
        self.families.values()
    }

    pub fn family(&self, id: &str) -> Option<&Family> {
        self.families.get(id)
    }

    /// A subscription wherever it is.
    pub fn subscription(&self, id: &str) -> Option<&Subscription> {
        self.owner
            .get(id)
            .and_then(|f| self.families.get(f))
            .and_then(|f| f.member(id))
    }

    pub fn history(&self, family_id: &str) -> Option<&History> {
        self.histories.get(family_id)
    }

    pub fn clock(&self) -> Option<Moment> {
        self.clock
    }

    /// The family an event acts on: the named subscription's (the base's for an add-on
    /// purchase), or for a base purchase the new family it starts. An unknown subscription
    /// routes to an empty family of its own name, where the rules reject it.
    pub fn route(&self, event: &FamilyEvent) -> String {
        self.route_with(event, &FastMap::default())
    }

    /// [`Book::route`], also knowing the subscriptions bought earlier in the same run.
    fn route_with(&self, event: &FamilyEvent, bought_in_run: &FastMap<String, String>) -> String {
        let order = &event.order;
        let named = match order.action {
            Action::Purchase => order
                .base_subscription_id
                .as_deref()
                .filter(|_| self.is_addon_purchase(order)),
            _ => order.subscription_id.as_deref(),
        };
        let known = named.and_then(|id| self.owner.get(id).or_else(|| bought_in_run.get(id)));
        match known {
            Some(family) => family.clone(),
            None => named.map_or_else(|| event.target(), |id| format!("?{id}")),
        }
    }

    fn is_addon_purchase(&self, order: &super::order::OrderEvent) -> bool {
        order
            .offer_id
            .as_deref()
            .and_then(|o| self.offers.get(o))
            .is_some_and(|o| o.is_addon)
    }

    /// Whether `event`, run on `date`, can take the fast path in its family.
    pub fn in_order(&self, event: &FamilyEvent, date: NaiveDate, family_id: &str) -> bool {
        let clock_ready = self
            .clock
            .is_none_or(|c| c == Moment::new(date, Step::SuspensionExpiry));
        clock_ready
            && event.order.event_date() == date
            && self
                .last_applied
                .get(family_id)
                .is_none_or(|t| *t <= event.order.event_time)
    }

    /// Applies the transitions of one step at the start of `date` to every family, posting on
    /// `date` (for a book that holds everything; the transition jobs do this in the shell).
    pub fn start_of_day(&mut self, date: NaiveDate, step: Step) -> Vec<ChargeLine> {
        let mut made = Vec::new();
        for (id, family) in self.families.iter_mut() {
            let postings: Vec<Posting> = family
                .start_of_day(date, step)
                .into_iter()
                .map(Posting::New)
                .collect();
            if let Some(history) = self.histories.get_mut(id) {
                history.record(&postings, &mut self.next_line_id);
            }
            made.extend(postings.into_iter().map(|p| match p {
                Posting::New(line) | Posting::Offset { line, .. } => line,
            }));
        }
        self.clock = Some(Moment::new(date, step));
        made
    }

    /// Plans and applies the order events to run on `date` (any order: they are sorted),
    /// posting on `date`, for a book that holds everything it needs (as in tests): [`Book::plan`]
    /// then [`Book::apply`] with nothing fetched.
    pub fn apply_events(&mut self, date: NaiveDate, events: Vec<FamilyEvent>) -> DayOutcome {
        let plan = self.plan(date, events);
        self.apply(plan, Fetched::default())
    }

    /// Decides, once, how the order events to run on `date` (any order: they are sorted) are
    /// applied: routed in order, so a row acting on a subscription bought earlier in the same
    /// run finds the family that purchase starts, each event on the fast path or its family on
    /// the full path. A family with any event out of order takes the full path for all of its
    /// events of the run.
    pub fn plan(&self, date: NaiveDate, mut events: Vec<FamilyEvent>) -> Plan {
        events.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        let mut full_path: BTreeMap<String, Vec<FamilyEvent>> = BTreeMap::new();
        let mut fast: Vec<(String, FamilyEvent)> = Vec::new();
        let mut bought_in_run: FastMap<String, String> = FastMap::default();
        for event in events {
            let family = self.route_with(&event, &bought_in_run);
            if event.order.action == Action::Purchase {
                bought_in_run.insert(event.target(), family.clone());
            }
            if full_path.contains_key(&family) || !self.in_order(&event, date, &family) {
                full_path.entry(family).or_default().push(event);
            } else {
                fast.push((family, event));
            }
        }
        // Events routed fast before their family turned out to need the full path join it
        // (none when no family does: the common day, whose events are then not moved again).
        if !full_path.is_empty() {
            let (late_fast, still_fast): (Vec<_>, Vec<_>) = fast
                .into_iter()
                .partition(|(f, _)| full_path.contains_key(f));
            for (family, event) in late_fast {
                full_path.entry(family).or_default().push(event);
            }
            fast = still_fast;
        }
        let histories = full_path
            .keys()
            .filter(|id| self.families.contains_key(*id) && !self.histories.contains_key(*id))
            .cloned()
            .collect();
        Plan {
            date,
            full_path,
            fast,
            histories,
        }
    }

    /// Applies a plan this book made, posting on the plan's date, with what the shell fetched
    /// for it: families taking the full path first, then the events in order.
    pub fn apply(&mut self, plan: Plan, fetched: Fetched) -> DayOutcome {
        match self.apply_posting(plan, fetched, |_, _| Ok::<(), std::convert::Infallible>(())) {
            Ok(outcome) => outcome,
        }
    }

    /// [`Book::apply`], handing the lines to `post` as they are made: after each family's full
    /// path and each event of the fast path, its new postings (in the order of the outcome's
    /// `postings`, which still holds them all), with the book as it stands then (every line's
    /// subscription is in it). The shell stores them while the rules compute the next; an
    /// error of `post` stops the rules and is returned.
    pub fn apply_posting<E>(
        &mut self,
        plan: Plan,
        fetched: Fetched,
        mut post: impl FnMut(&Book, &[Posting]) -> Result<(), E>,
    ) -> Result<DayOutcome, E> {
        self.learn(&plan, fetched);
        let Plan {
            date,
            full_path,
            fast,
            histories: _,
        } = plan;
        let mut outcome = DayOutcome::default();
        let through = match self.clock {
            Some(c) if c > Moment::new(date, Step::Orders) => c,
            _ => Moment::new(date, Step::Orders),
        };
        let mut sent = 0;
        for (family_id, new_events) in full_path {
            self.apply_full_path(&family_id, new_events, date, through, &mut outcome);
            if outcome.postings.len() > sent {
                post(self, &outcome.postings[sent..])?;
                sent = outcome.postings.len();
            }
        }
        for (family_id, event) in fast {
            self.apply_in_order(&family_id, event, &mut outcome);
            if outcome.postings.len() > sent {
                post(self, &outcome.postings[sent..])?;
                sent = outcome.postings.len();
            }
        }
        if self
            .clock
            .is_none_or(|c| c < Moment::new(date, Step::Orders))
        {
            self.clock = Some(Moment::new(date, Step::Orders));
        }
        Ok(outcome)
    }

    /// Takes in what was fetched for `plan`: posted lines become the families' ledgers, and with
    /// the accepted events the histories the plan asked for.
    fn learn(&mut self, plan: &Plan, mut fetched: Fetched) {
        for id in &plan.histories {
            let history = History {
                events: fetched.accepted.remove(id).unwrap_or_default(),
                posted: fetched.posted.get(id).cloned().unwrap_or_default(),
            };
            self.insert_history(id, history);
        }
        for (id, posted) in fetched.posted {
            if let Some(family) = self.families.get_mut(&id) {
                family.ledger = ledger_from_posted(&posted);
            }
        }
    }

    /// The subscriptions to write back after `outcome`: those its accepted purchases bought,
    /// and the other members of the families whose state changed.
    pub fn written(&self, outcome: &DayOutcome) -> Written<'_> {
        let bought: foldhash::HashSet<&str> = outcome
            .accepted
            .iter()
            .filter(|a| a.event.order.action == Action::Purchase)
            .map(|a| a.subscription_id.as_str())
            .collect();
        let (new, existing) = outcome
            .changed
            .iter()
            .filter_map(|id| self.family(id))
            .flat_map(|f| f.members.iter())
            .partition(|s| bought.contains(s.id.as_str()));
        Written { new, existing }
    }

    /// The fast path: the event meets the family's current state.
    fn apply_in_order(
        &mut self,
        family_id: &str,
        mut event: FamilyEvent,
        outcome: &mut DayOutcome,
    ) {
        let holdings = self.purchase_holdings(&event);
        let elsewhere = self.first_paid_start_elsewhere(&event, family_id);
        let offer_id = self.offer_of(&event);
        // The family is changed where it stands in the book (a purchase starting one puts it
        // there empty first, and takes it out again if the purchase is rejected).
        if !self.families.contains_key(family_id) {
            self.families
                .insert(family_id.to_string(), Family::empty(family_id));
        }
        let family = self
            .families
            .get_mut(family_id)
            .expect("the family was just put in the book");
        let facts = EventFacts {
            customer: self.customers.get(&event.order.customer_id),
            offer: offer_id.as_deref().and_then(|o| self.offers.get(o)),
            holdings,
            first_paid_start_elsewhere: elsewhere,
        };
        let result = family.apply(&event, Checks::Full(facts), &self.policy);
        if let Ok(applied) = &result {
            event.retention_days = applied.retention_days;
        }
        if family.members.is_empty() {
            self.families.remove(family_id);
        }
        match result {
            Ok(applied) => {
                let postings: Vec<Posting> = applied.lines.into_iter().map(Posting::New).collect();
                if event.order.action == Action::Purchase {
                    // Only a purchase adds a member, and with it perhaps a customer.
                    self.note_customer(&event.order.customer_id, family_id);
                    self.owner.insert(event.target(), family_id.to_string());
                }
                self.last_applied
                    .insert(family_id.to_string(), event.order.event_time);
                if self.keeps_history(family_id) {
                    let history = self.histories.entry(family_id.to_string()).or_default();
                    history.events.push(event.clone());
                    history.record(&postings, &mut self.next_line_id);
                }
                outcome.postings.extend(postings);
                outcome.accepted.push(Accepted {
                    subscription_id: event.target(),
                    family_id: family_id.to_string(),
                    event,
                });
                outcome.changed.insert(family_id.to_string());
            }
            Err(reject) => outcome.rejected.push((event, reject)),
        }
    }

    /// The full path: replay the family's history with the new events in place, then post the
    /// difference from what was posted.
    fn apply_full_path(
        &mut self,
        family_id: &str,
        new_events: Vec<FamilyEvent>,
        date: NaiveDate,
        through: Moment,
        outcome: &mut DayOutcome,
    ) {
        let had_history = self.histories.contains_key(family_id);
        let kept = self.keeps_history(family_id);
        let mut history = self.histories.remove(family_id).unwrap_or_default();
        let current = self.families.get(family_id).cloned();
        let seeds: Vec<Subscription> = current
            .as_ref()
            .map(|f| f.members.clone())
            .unwrap_or_default();
        let accepted: Vec<ReplayEvent<'_>> = history
            .events
            .iter()
            .map(|event| ReplayEvent {
                event,
                checks: Checks::Replay {
                    seed: seeds.iter().find(|s| s.id == event.target()),
                },
            })
            .collect();
        let fresh: Vec<ReplayEvent<'_>> = new_events
            .iter()
            .map(|event| ReplayEvent {
                event,
                checks: Checks::Full(self.facts(event, family_id)),
            })
            .collect();
        let admission = admit(family_id, &accepted, &fresh, through, &self.policy);

        let made = match postings(&admission.lines, &history.posted, date) {
            Ok(made) => made,
            Err(uncomputable) => {
                // The difference from what was posted does not compute: none of the family's
                // new rows can be applied, and the family stays as it was.
                if had_history {
                    self.histories.insert(family_id.to_string(), history);
                }
                let reject = Reject::from(uncomputable);
                outcome
                    .rejected
                    .extend(new_events.into_iter().map(|e| (e, reject.clone())));
                return;
            }
        };
        let mut family = admission.family;
        history.record(&made, &mut self.next_line_id);
        family.ledger = ledger_from_posted(&history.posted);
        for member in &family.members {
            self.owner.insert(member.id.clone(), family_id.to_string());
        }

        for (mut event, verdict) in new_events.into_iter().zip(admission.verdicts) {
            match verdict {
                Ok(retention) => {
                    event.retention_days = retention;
                    let t = event.order.event_time;
                    let last = self.last_applied.entry(family_id.to_string()).or_insert(t);
                    *last = (*last).max(t);
                    history.events.push(event.clone());
                    outcome.accepted.push(Accepted {
                        subscription_id: event.target(),
                        family_id: family_id.to_string(),
                        event,
                    });
                }
                Err(reject) => outcome.rejected.push((event, reject)),
            }
        }
        if !family.members.is_empty() || current.is_some() {
            self.put_family(family_id.to_string(), family);
            outcome.changed.insert(family_id.to_string());
        }
        if kept {
            self.histories.insert(family_id.to_string(), history);
        }
        outcome.postings.extend(made);
    }

    /// The offer a row is checked against: the one bought, or the subscription's.
    fn offer_of(&self, event: &FamilyEvent) -> Option<String> {
        match event.order.action {
            Action::Purchase => event.order.offer_id.clone(),
            _ => self
                .subscription(&event.target())
                .map(|s| s.offer_id.clone()),
        }
    }

    /// For a purchase of a one-per-customer offer, the customer's live subscriptions of it.
    fn purchase_holdings(&self, event: &FamilyEvent) -> Holdings {
        let order = &event.order;
        match order.offer_id.as_deref().and_then(|o| self.offers.get(o)) {
            Some(offer) if order.action == Action::Purchase && offer.one_per_customer => {
                self.holdings(&order.customer_id, &offer.offer_id)
            }
            _ => Holdings::default(),
        }
    }

    /// The catalog and customer facts a new row is checked against.
    fn facts(&self, event: &FamilyEvent, family_id: &str) -> EventFacts<'_> {
        let offer_id = self.offer_of(event);
        EventFacts {
            customer: self.customers.get(&event.order.customer_id),
            offer: offer_id.as_deref().and_then(|o| self.offers.get(o)),
            holdings: self.purchase_holdings(event),
            first_paid_start_elsewhere: self.first_paid_start_elsewhere(event, family_id),
        }
    }

    /// For a suspension: the customer's first paid start among subscriptions of other families.
    fn first_paid_start_elsewhere(
        &self,
        event: &FamilyEvent,
        family_id: &str,
    ) -> Option<NaiveDate> {
        if event.order.action != Action::Suspend {
            return None;
        }
        let others = self
            .families_of(&event.order.customer_id)
            .filter(|f| f.id != family_id)
            .flat_map(|f| f.members.iter())
            .filter(|s| s.customer_id == event.order.customer_id);
        first_paid_start(others, event.order.event_time)
    }

    /// The customer's live subscriptions of an offer.
    pub fn holdings(&self, customer_id: &str, offer_id: &str) -> Holdings {
        let mut holdings = Holdings::default();
        for sub in self
            .customer_subscriptions(customer_id)
            .filter(|s| s.offer_id == offer_id)
        {
            match sub.state.status {
                Status::Active => holdings.active = true,
                Status::Suspended => holdings.suspended = true,
                _ => {}
            }
        }
        holdings
    }

    fn customer_subscriptions<'a>(
        &'a self,
        customer_id: &'a str,
    ) -> impl Iterator<Item = &'a Subscription> + 'a {
        self.families_of(customer_id)
            .flat_map(|f| f.members.iter())
            .filter(move |s| s.customer_id == customer_id)
    }

    /// The families in the book holding a subscription of `customer_id` (and perhaps others),
    /// in the book's order.
    fn families_of<'a>(&'a self, customer_id: &str) -> impl Iterator<Item = &'a Family> + 'a {
        self.customer_families
            .get(customer_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.families.get(id))
    }
}
