//! Writing what finance opens: invoice files, daily reports and the subscriptions export.

pub mod atomic;
pub mod cells;
pub mod invoices;
pub mod reports;
pub mod subscriptions;
