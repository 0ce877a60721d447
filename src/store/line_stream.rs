//! Posting charge lines while they are computed: one binary `COPY … FROM STDIN` that the
//! caller feeds line by line, so the server stores the lines already sent while the rules
//! compute the next (a batch's lines no longer wait for the whole batch's rules, nor the rules
//! for the server). The rows are the bytes diesel's `copy_from(…).from_insertable` sends for
//! the same lines ([`super::charges::insert`]).

use std::cell::RefCell;
use std::io::Write;

use chrono::NaiveDate;
use diesel::pg::data_types::PgNumeric;
use diesel::prelude::*;
use diesel::result::Error;
use rust_decimal::Decimal;

use super::charges::PostingTarget;
use super::schema::charge_lines;
use crate::domain::charges::ChargeLine;
use crate::domain::posting::Posting;

/// Bytes gathered before they are handed to libpq.
const CHUNK: usize = 64 * 1024;

/// Where the caller writes its lines: each is encoded and sent on with the rest.
pub struct LineSink<'a> {
    out: &'a mut dyn Write,
    buf: Vec<u8>,
    posted_on: i32,
    invoice_period_start: i32,
}

impl LineSink<'_> {
    /// Posts `line` for `customer_id` (a new line: it corrects none).
    pub fn push(&mut self, line: &ChargeLine, customer_id: &str) -> std::io::Result<()> {
        self.row(line, customer_id, None)
    }

    /// Posts `posting` for `customer_id`: a new line as [`LineSink::push`] does, an offset with
    /// the line it corrects (apply-orders' full path posts both).
    pub fn push_posting(&mut self, posting: &Posting, customer_id: &str) -> std::io::Result<()> {
        match posting {
            Posting::New(line) => self.row(line, customer_id, None),
            Posting::Offset { corrects, line } => self.row(line, customer_id, Some(*corrects)),
        }
    }

    /// One row of `charge_lines`: `line` for `customer_id`, correcting line `corrects` if any.
    fn row(
        &mut self,
        line: &ChargeLine,
        customer_id: &str,
        corrects: Option<i64>,
    ) -> std::io::Result<()> {
        let b = &mut self.buf;
        b.extend_from_slice(&14i16.to_be_bytes());
        text(b, &line.subscription_id);
        text(b, customer_id);
        text(b, line.charge_type.as_str());
        date(b, line.range.start);
        date(b, line.range.end);
        int4(b, days(line.billable_days));
        int4(b, days(line.period_days));
        numeric(b, &line.unit_price);
        numeric(b, &line.quantity);
        numeric(b, &line.amount);
        int4(b, self.posted_on);
        text(b, &line.cause);
        match corrects {
            Some(id) => int8(b, id),
            None => b.extend_from_slice(&(-1i32).to_be_bytes()), // corrects_line_id: NULL
        }
        int4(b, self.invoice_period_start);
        if self.buf.len() >= CHUNK {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }
}

/// Runs `produce` inside one COPY into `charge_lines`, every line it pushes posted on
/// `target`; returns how many lines the server stored. An error of `produce` aborts the COPY
/// (and with it the caller's transaction).
pub fn post<F>(conn: &mut PgConnection, target: &PostingTarget, produce: F) -> QueryResult<usize>
where
    F: FnOnce(&mut LineSink<'_>) -> std::io::Result<()>,
{
    use charge_lines::dsl as c;
    let produce = RefCell::new(Some(produce));
    let posted_on = pg_date(target.posted_on);
    let invoice_period_start = pg_date(target.invoice_period_start);
    diesel::copy_from(charge_lines::table)
        .from_raw_data(
            (
                c::subscription_id,
                c::customer_id,
                c::charge_type,
                c::start_date,
                c::end_date,
                c::billable_days,
                c::period_days,
                c::unit_price,
                c::quantity,
                c::amount,
                c::posted_on,
                c::cause,
                c::corrects_line_id,
                c::invoice_period_start,
            ),
            |out: &mut dyn Write| -> Result<(), Error> {
                let produce = produce
                    .borrow_mut()
                    .take()
                    .expect("diesel runs a COPY's callback once");
                let io = |e: std::io::Error| Error::SerializationError(Box::new(e));
                // The binary COPY header: signature, flags, no extension.
                let mut buf = Vec::with_capacity(CHUNK + 1024);
                buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
                buf.extend_from_slice(&0i32.to_be_bytes());
                buf.extend_from_slice(&0i32.to_be_bytes());
                let mut sink = LineSink {
                    out,
                    buf,
                    posted_on,
                    invoice_period_start,
                };
                produce(&mut sink).map_err(io)?;
                sink.buf.extend_from_slice(&(-1i16).to_be_bytes());
                sink.out.write_all(&sink.buf).map_err(io)
            },
        )
        .with_format(diesel::pg::CopyFormat::Binary)
        .execute(conn)
}

fn days(n: u32) -> i32 {
    i32::try_from(n).expect("day counts are small")
}

fn text(b: &mut Vec<u8>, value: &str) {
    let len = i32::try_from(value.len()).expect("a stored text is under 2 GiB");
    b.extend_from_slice(&len.to_be_bytes());
    b.extend_from_slice(value.as_bytes());
}

fn int4(b: &mut Vec<u8>, value: i32) {
    b.extend_from_slice(&4i32.to_be_bytes());
    b.extend_from_slice(&value.to_be_bytes());
}

fn int8(b: &mut Vec<u8>, value: i64) {
    b.extend_from_slice(&8i32.to_be_bytes());
    b.extend_from_slice(&value.to_be_bytes());
}

/// Days since 2000-01-01, as PostgreSQL stores a date (and diesel sends one).
fn pg_date(d: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(2000, 1, 1).expect("a valid date");
    i32::try_from((d - epoch).num_days()).expect("dates are within PostgreSQL's range")
}

fn date(b: &mut Vec<u8>, d: NaiveDate) {
    int4(b, pg_date(d));
}

/// A numeric in PostgreSQL's binary form, through the same conversion diesel uses for a
/// `Decimal` (rust_decimal's `PgNumeric`): the same value and scale.
fn numeric(b: &mut Vec<u8>, value: &Decimal) {
    let (sign, weight, scale, digits) = match PgNumeric::from(value) {
        PgNumeric::Positive {
            weight,
            scale,
            digits,
        } => (0u16, weight, scale, digits),
        PgNumeric::Negative {
            weight,
            scale,
            digits,
        } => (0x4000, weight, scale, digits),
        PgNumeric::NaN => (0xC000, 0, 0, Vec::new()),
    };
    let len = 8 + 2 * digits.len();
    b.extend_from_slice(&i32::try_from(len).expect("a short number").to_be_bytes());
    let ndigits = u16::try_from(digits.len()).expect("a Decimal has at most 8 base-10000 digits");
    b.extend_from_slice(&ndigits.to_be_bytes());
    b.extend_from_slice(&weight.to_be_bytes());
    b.extend_from_slice(&sign.to_be_bytes());
    b.extend_from_slice(&scale.to_be_bytes());
    for digit in digits {
        b.extend_from_slice(&digit.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn dates_count_days_from_2000() {
        assert_eq!(pg_date(NaiveDate::from_ymd_opt(2000, 1, 1).unwrap()), 0);
        assert_eq!(pg_date(NaiveDate::from_ymd_opt(2026, 2, 5).unwrap()), 9532);
        assert_eq!(pg_date(NaiveDate::from_ymd_opt(1999, 12, 31).unwrap()), -1);
    }

    #[test]
    fn numerics_are_base_10000_digits_with_their_scale() {
        let mut b = Vec::new();
        numeric(&mut b, &dec!(-12345.60));
        // length 14 (8 + 2 per digit); 3 digits, weight 1, negative, scale 2; 1 2345 6000
        let want: Vec<u8> = [14i32.to_be_bytes().to_vec()]
            .into_iter()
            .chain([3i16, 1, 0x4000, 2, 1, 2345, 6000].map(|v| v.to_be_bytes().to_vec()))
            .flatten()
            .collect();
        assert_eq!(b, want);
    }
}
