//! Reading offers.csv and customers.csv (SPEC section 2) into catalog values, with every
//! problem named by file, line and column.

use std::path::Path;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::csv_source::{FileProblem, Table};
use crate::domain::catalog::{Customer, Offer};

const OFFER_REQUIRED: &[&str] = &[
    "offer_id",
    "name",
    "publisher",
    "publisher_name",
    "billing_type",
    "billing_frequency",
    "term_months",
    "unit_price",
    "currency",
    "category",
    "segments",
    "one_per_customer",
    "trial_days",
    "csp_available",
    "transactable",
    "countries",
];
const OFFER_OPTIONAL: &[&str] = &[
    "exclusive_partners",
    "is_addon",
    "base_offers",
    "min_quantity",
    "max_quantity",
    "publisher_setup_url",
];
const CUSTOMER_COLUMNS: &[&str] = &[
    "customer_id",
    "name",
    "country",
    "segment",
    "currency",
    "account_opened_on",
];

/// The most characters of any value of offers.csv and customers.csv.
pub const MAX_TEXT_CHARS: usize = 500;

/// The longest trial an offer may give, in days (ten years): trial dates stay far inside the
/// calendar whatever the purchase date.
pub const MAX_TRIAL_DAYS: u32 = 3_650;

/// A value quoted in a problem: a long one is cut.
fn clip(value: &str) -> String {
    const SHOWN: usize = 40;
    if value.chars().count() <= SHOWN {
        value.to_string()
    } else {
        let head: String = value.chars().take(SHOWN).collect();
        format!("{head}…")
    }
}

/// Records a problem for every value of the row longer than [`MAX_TEXT_CHARS`] characters.
fn check_lengths(
    table: &Table,
    columns: &[&str],
    record: &csv::StringRecord,
    line: u64,
    problems: &mut Vec<FileProblem>,
) {
    for name in columns {
        let chars = table.get(record, name).chars().count();
        if chars > MAX_TEXT_CHARS {
            problems.push(FileProblem::at(
                &table.path,
                line,
                Some(name),
                format!("is {chars} characters long: at most {MAX_TEXT_CHARS} are allowed"),
            ));
        }
    }
}

/// Records a problem for every identifier of the row that holds a control or invisible
/// character (the rule of order files: an id must look like no other).
fn check_identifiers(
    table: &Table,
    columns: &[&str],
    record: &csv::StringRecord,
    line: u64,
    problems: &mut Vec<FileProblem>,
) {
    for name in columns {
        if let Some(problem) = crate::domain::order::unprintable(table.get(record, name)) {
            problems.push(FileProblem::at(&table.path, line, Some(name), problem));
        }
    }
}

/// Records a problem when the row's id (`column`) was already on an earlier line of the file:
/// which row should win would be a guess, and the count loaded would be wrong.
fn check_repeat(
    table: &Table,
    column: &str,
    record: &csv::StringRecord,
    line: u64,
    seen: &mut std::collections::HashMap<String, u64>,
    problems: &mut Vec<FileProblem>,
) {
    let id = table.get(record, column);
    if id.is_empty() {
        return;
    }
    if let Some(first) = seen.get(id) {
        problems.push(FileProblem::at(
            &table.path,
            line,
            Some(column),
            format!(
                "'{}' is already on line {first}: each id appears once in the file",
                clip(id)
            ),
        ));
    } else {
        seen.insert(id.to_string(), line);
    }
}

/// Reads one row's fields, collecting problems instead of stopping at the first.
struct Fields<'a> {
    table: &'a Table,
    record: &'a csv::StringRecord,
    line: u64,
    problems: &'a mut Vec<FileProblem>,
}

impl Fields<'_> {
    fn text(&self, name: &str) -> String {
        self.table.get(self.record, name).to_string()
    }

    fn problem(&mut self, name: &str, message: String) {
        self.problems.push(FileProblem::at(
            &self.table.path,
            self.line,
            Some(name),
            message,
        ));
    }

    fn required(&mut self, name: &str) -> String {
        let value = self.text(name);
        if value.is_empty() {
            self.problem(name, "is required but empty".into());
        }
        value
    }

    /// Parses a required value; on failure records the problem and returns `None`.
    fn parsed<T: FromStr>(&mut self, name: &str, what: &str) -> Option<T>
    where
        T::Err: std::fmt::Display,
    {
        let value = self.required(name);
        if value.is_empty() {
            return None;
        }
        match value.parse::<T>() {
            Ok(v) => Some(v),
            Err(e) => {
                self.problem(name, format!("'{}' is not {what} ({e})", clip(&value)));
                None
            }
        }
    }

    fn optional_number(&mut self, name: &str) -> Option<Option<u32>> {
        let value = self.text(name);
        if value.is_empty() {
            return Some(None);
        }
        match value.parse::<u32>() {
            Ok(n) => Some(Some(n)),
            Err(_) => {
                self.problem(name, format!("'{}' is not a whole number", clip(&value)));
                None
            }
        }
    }

    fn boolean(&mut self, name: &str, default: Option<bool>) -> Option<bool> {
        let value = self.text(name);
        if value.is_empty()
            && let Some(default) = default
        {
            return Some(default);
        }
        if value.eq_ignore_ascii_case("true") {
            Some(true)
        } else if value.eq_ignore_ascii_case("false") {
            Some(false)
        } else {
            self.problem(name, format!("'{}' is not true or false", clip(&value)));
            None
        }
    }

    fn list(&self, name: &str) -> Vec<String> {
        self.text(name)
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// Reads offers.csv; all problems of the file are returned together.
pub fn read_offers(path: &Path) -> Result<Vec<Offer>, Vec<FileProblem>> {
    let table = Table::read(path, OFFER_REQUIRED, OFFER_OPTIONAL)?;
    let mut problems = Vec::new();
    let mut offers = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (line, record) in &table.rows {
        check_repeat(&table, "offer_id", record, *line, &mut seen, &mut problems);
        let columns = [OFFER_REQUIRED, OFFER_OPTIONAL].concat();
        check_lengths(&table, &columns, record, *line, &mut problems);
        check_identifiers(
            &table,
            &["offer_id", "exclusive_partners", "base_offers"],
            record,
            *line,
            &mut problems,
        );
        let mut f = Fields {
            table: &table,
            record,
            line: *line,
            problems: &mut problems,
        };
        let offer_id = f.required("offer_id");
        let name = f.required("name");
        let publisher = f.parsed("publisher", "a publisher");
        let publisher_name = f.required("publisher_name");
        let billing_type = f.parsed("billing_type", "a billing type");
        let billing_frequency = f.parsed("billing_frequency", "a billing frequency");
        let term_months = f.parsed::<u32>("term_months", "a number of months");
        if let Some(t) = term_months
            && ![1, 12, 36].contains(&t)
        {
            f.problem("term_months", format!("{t} is not 1, 12 or 36"));
        }
        let unit_price = f.parsed::<Decimal>("unit_price", "a decimal price");
        if unit_price.is_some_and(|p| p.is_sign_negative()) {
            f.problem("unit_price", "a price cannot be negative".into());
        }
        // A price with more digits than a decimal holds would be rounded when read: refuse it.
        let price_text = f.text("unit_price");
        if unit_price.is_some() && Decimal::from_str_exact(&price_text).is_err() {
            f.problem(
                "unit_price",
                format!(
                    "'{}' has too many digits to be read exactly (at most 28 decimal places)",
                    clip(&price_text)
                ),
            );
        }
        let currency = f.required("currency");
        let category = f.parsed("category", "a category");
        let segments = f
            .list("segments")
            .iter()
            .map(|s| s.parse().map_err(|e| format!("{e}")))
            .collect::<Result<Vec<_>, _>>();
        let segments = match segments {
            Ok(list) => Some(list),
            Err(e) => {
                f.problem("segments", e);
                None
            }
        };
        let one_per_customer = f.boolean("one_per_customer", None);
        let trial_days = f.parsed::<u32>("trial_days", "a number of days");
        if let Some(days) = trial_days
            && days > MAX_TRIAL_DAYS
        {
            f.problem(
                "trial_days",
                format!("{days} is above {MAX_TRIAL_DAYS} days (ten years)"),
            );
        }
        let csp_available = f.boolean("csp_available", None);
        let transactable = f.boolean("transactable", None);
        let countries = f.list("countries");
        let countries = if countries.iter().any(|c| c == "*") {
            None
        } else {
            Some(countries)
        };
        let exclusive_partners = f.list("exclusive_partners");
        let is_addon = f.boolean("is_addon", Some(false));
        let base_offers = f.list("base_offers");
        let min_quantity = f.optional_number("min_quantity");
        let max_quantity = f.optional_number("max_quantity");
        let publisher_setup_url = Some(f.text("publisher_setup_url")).filter(|s| !s.is_empty());

        let (
            Some(publisher),
            Some(billing_type),
            Some(billing_frequency),
            Some(term_months),
            Some(unit_price),
            Some(category),
            Some(segments),
            Some(one_per_customer),
            Some(trial_days),
            Some(csp_available),
            Some(transactable),
            Some(is_addon),
            Some(min_quantity),
            Some(max_quantity),
        ) = (
            publisher,
            billing_type,
            billing_frequency,
            term_months,
            unit_price,
            category,
            segments,
            one_per_customer,
            trial_days,
            csp_available,
            transactable,
            is_addon,
            min_quantity,
            max_quantity,
        )
        else {
            continue;
        };
        let offer = Offer {
            offer_id,
            name,
            publisher,
            publisher_name,
            billing_type,
            billing_frequency,
            term_months,
            unit_price,
            currency,
            category,
            segments,
            one_per_customer,
            trial_days,
            csp_available,
            transactable,
            countries,
            exclusive_partners,
            is_addon,
            base_offers,
            min_quantity: min_quantity.unwrap_or(1),
            max_quantity,
            publisher_setup_url,
        };
        for problem in offer.problems() {
            problems.push(FileProblem::at(
                path,
                *line,
                None,
                format!("offer {}: {problem}", offer.offer_id),
            ));
        }
        offers.push(offer);
    }
    if problems.is_empty() {
        Ok(offers)
    } else {
        Err(problems)
    }
}

/// Reads customers.csv; all problems of the file are returned together.
pub fn read_customers(path: &Path) -> Result<Vec<Customer>, Vec<FileProblem>> {
    let table = Table::read(path, CUSTOMER_COLUMNS, &[])?;
    let mut problems = Vec::new();
    let mut customers = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (line, record) in &table.rows {
        check_repeat(
            &table,
            "customer_id",
            record,
            *line,
            &mut seen,
            &mut problems,
        );
        check_lengths(&table, CUSTOMER_COLUMNS, record, *line, &mut problems);
        check_identifiers(&table, &["customer_id"], record, *line, &mut problems);
        let mut f = Fields {
            table: &table,
            record,
            line: *line,
            problems: &mut problems,
        };
        let customer_id = f.required("customer_id");
        let name = f.required("name");
        let country = f.required("country");
        let segment = f.parsed("segment", "a segment");
        let currency = f.required("currency");
        let opened = f.parsed::<NaiveDate>("account_opened_on", "a date like 2026-01-31");
        if let (Some(segment), Some(account_opened_on)) = (segment, opened) {
            customers.push(Customer {
                customer_id,
                name,
                country,
                segment,
                currency,
                account_opened_on,
            });
        }
    }
    if problems.is_empty() {
        Ok(customers)
    } else {
        Err(problems)
    }
}
