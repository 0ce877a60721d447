//! Billing calendar arithmetic: anniversaries with the month-end rule, billing periods and
//! terms as inclusive date ranges (SPEC sections 1 and 5).

use chrono::{Datelike, Months, NaiveDate};

/// An inclusive range of days: `start` is the first day, `end` the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DateRange {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl DateRange {
    /// A range from `start` to `end`, both included. Panics if `end` is before `start`: every
    /// caller builds ranges from a calendar, so an inverted one is a bug.
    pub fn new(start: NaiveDate, end: NaiveDate) -> Self {
        assert!(end >= start, "inverted date range {start}..{end}");
        DateRange { start, end }
    }

    /// Number of days in the range: end − start + 1.
    pub fn days(&self) -> u32 {
        u32::try_from((self.end - self.start).num_days() + 1).expect("a range is never inverted")
    }

    /// Whether `date` lies inside the range.
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.start <= date && date <= self.end
    }

    /// Whether `other` lies wholly inside this range.
    pub fn covers(&self, other: &DateRange) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// The part of this range from `date` on (`date` must lie inside it).
    pub fn from(&self, date: NaiveDate) -> DateRange {
        DateRange::new(date.max(self.start), self.end)
    }
}

impl std::fmt::Display for DateRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// The date `months` months after `anchor`, on the anchor's day of month, or on the last day
/// of the month when it is too short (anchor Jan 31: Feb 28, Mar 31, Apr 30, ...). Always
/// counted from the anchor, so a short month never shifts later dates.
pub fn anniversary(anchor: NaiveDate, months: u32) -> NaiveDate {
    anchor
        .checked_add_months(Months::new(months))
        .expect("anniversaries stay far inside chrono's date range")
}

/// The last day of `date`'s month.
pub fn month_end(date: NaiveDate) -> NaiveDate {
    let first = date.with_day(1).expect("day 1 exists in every month");
    anniversary(first, 1)
        .pred_opt()
        .expect("dates stay inside chrono's range")
}

/// A schedule of ranges repeating every `every_months` months from an anchor date, on the
/// anchor's day of month: billing periods (1 or 12 months) or terms (1, 12 or 36 months).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub anchor: NaiveDate,
    pub every_months: u32,
}

impl Schedule {
    pub fn new(anchor: NaiveDate, every_months: u32) -> Self {
        assert!(every_months > 0, "a schedule repeats every month or more");
        Schedule {
            anchor,
            every_months,
        }
    }

    /// Start of the `n`-th range (the first is 0).
    pub fn start_of(&self, n: u32) -> NaiveDate {
        anniversary(self.anchor, n * self.every_months)
    }

    /// The range containing `date`; dates before the anchor belong to the first range.
    pub fn containing(&self, date: NaiveDate) -> DateRange {
        let n = self.index_of(date);
        DateRange::new(
            self.start_of(n),
            self.start_of(n + 1)
                .pred_opt()
                .expect("dates stay inside chrono's range"),
        )
    }

    /// Whether a range of the schedule starts on `date` (the anchor itself included).
    pub fn starts_on(&self, date: NaiveDate) -> bool {
        date >= self.anchor && self.containing(date).start == date
    }

    /// Index of the range containing `date` (0 for dates up to the first range's end).
    fn index_of(&self, date: NaiveDate) -> u32 {
        if date <= self.anchor {
            return 0;
        }
        let months = (date.year() - self.anchor.year()) * 12 + date.month() as i32
            - self.anchor.month() as i32;
        let mut n = u32::try_from(months).expect("date is after the anchor") / self.every_months;
        // The estimate is off by at most one range because of the day of month.
        while n > 0 && self.start_of(n) > date {
            n -= 1;
        }
        while self.start_of(n + 1) <= date {
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_january_31_anchor_uses_the_last_day_of_short_months_and_returns_to_the_31st() {
        let monthly = Schedule::new(d("2026-01-31"), 1);
        let starts: Vec<_> = (0..5).map(|n| monthly.start_of(n)).collect();
        assert_eq!(
            starts,
            [
                d("2026-01-31"),
                d("2026-02-28"),
                d("2026-03-31"),
                d("2026-04-30"),
                d("2026-05-31")
            ]
        );
        assert_eq!(
            monthly.containing(d("2026-03-15")),
            DateRange::new(d("2026-02-28"), d("2026-03-30"))
        );
    }

    #[test]
    fn a_february_29_annual_anchor_falls_on_february_28_outside_leap_years() {
        let annual = Schedule::new(d("2024-02-29"), 12);
        assert_eq!(annual.start_of(1), d("2025-02-28"));
        assert_eq!(annual.start_of(4), d("2028-02-29"));
        assert_eq!(annual.containing(d("2025-02-28")).days(), 365);
        assert_eq!(annual.containing(d("2027-03-01")).days(), 366);
        assert_eq!(annual.containing(d("2024-03-01")).days(), 365);
    }

    #[test]
    fn periods_of_the_worked_example_one() {
        let monthly = Schedule::new(d("2018-01-13"), 1);
        let first = monthly.containing(d("2018-01-13"));
        assert_eq!(first, DateRange::new(d("2018-01-13"), d("2018-02-12")));
        assert_eq!(first.days(), 31);
        assert_eq!(DateRange::new(d("2018-02-01"), first.end).days(), 12);
    }

    #[test]
    fn calendars_at_the_ends_of_the_four_digit_years_do_not_panic() {
        let late = Schedule::new(d("9999-12-31"), 36);
        let next = late.containing(d("9999-12-31")).end.succ_opt().unwrap();
        assert_eq!(late.containing(next).start, next);
        assert_eq!(anniversary(d("0001-01-31"), 1), d("0001-02-28"));
        assert_eq!(month_end(d("9999-12-01")), d("9999-12-31"));
    }

    #[test]
    fn month_end_knows_leap_years() {
        assert_eq!(month_end(d("2024-02-10")), d("2024-02-29"));
        assert_eq!(month_end(d("2026-12-31")), d("2026-12-31"));
    }

    proptest! {
        #[test]
        fn consecutive_ranges_tile_the_calendar(
            days_from_epoch in 0i64..20_000, every in prop::sample::select(vec![1u32, 12, 36]),
            offset in 0i64..2_000,
        ) {
            let anchor = d("1990-01-01") + chrono::Duration::days(days_from_epoch);
            let schedule = Schedule::new(anchor, every);
            let date = anchor + chrono::Duration::days(offset);
            let range = schedule.containing(date);
            prop_assert!(range.contains(date));
            prop_assert!(schedule.starts_on(range.start));
            let next = schedule.containing(range.end.succ_opt().unwrap());
            prop_assert_eq!(next.start, range.end.succ_opt().unwrap());
            let min_days = if every == 1 { 28 } else { 365 * every / 12 };
            prop_assert!(range.days() >= min_days);
        }
    }
}
