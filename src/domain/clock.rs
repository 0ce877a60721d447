//! The state clock: a business day is walked in fixed `Step`s (the start-of-day transitions,
//! then the day's orders), and a `Moment` names a date and how far through it the work has
//! gone. Every job and every replay agrees on this one order of work.

use chrono::NaiveDate;

/// The transitions that take effect at the start of a day, in the order they run, followed by
/// the day's order events (SPEC section 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    TrialConversions = 1,
    Renewals = 2,
    SuspensionExpiry = 3,
    Orders = 4,
}

impl Step {
    pub const ALL: [Step; 4] = [
        Step::TrialConversions,
        Step::Renewals,
        Step::SuspensionExpiry,
        Step::Orders,
    ];

    /// The step number stored in the state clock.
    pub fn number(self) -> i16 {
        self as i16
    }

    pub fn from_number(n: i16) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.number() == n)
    }
}

/// A point in business time: a date and how far through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Moment {
    pub date: NaiveDate,
    pub step: Step,
}

impl Moment {
    pub fn new(date: NaiveDate, step: Step) -> Moment {
        Moment { date, step }
    }

    /// The moment right after this one.
    pub fn next(self) -> Moment {
        match self.step {
            Step::TrialConversions => Moment::new(self.date, Step::Renewals),
            Step::Renewals => Moment::new(self.date, Step::SuspensionExpiry),
            Step::SuspensionExpiry => Moment::new(self.date, Step::Orders),
            Step::Orders => Moment::new(
                self.date
                    .succ_opt()
                    .expect("dates stay inside chrono's range"),
                Step::TrialConversions,
            ),
        }
    }
}
