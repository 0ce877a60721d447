//! The pure core: calendar, money, catalog, order rows, eligibility, the subscription
//! lifecycle and billing. Plain values in, plain values out: no database, no files, no clock,
//! no logging. This is where the money is decided, and where the tests are densest.

pub mod book;
pub mod calendar;
pub mod catalog;
pub mod cause;
pub mod charges;
pub mod clock;
pub mod duplicate;
pub mod eligibility;
pub mod event;
pub mod explain;
pub mod invoicing;
pub mod lifecycle;
pub mod lines;
pub mod money;
pub mod needs;
pub mod order;
pub mod policy;
pub mod posting;
pub mod reject;
pub mod replay;
pub mod subscription;
pub mod vocabulary;
