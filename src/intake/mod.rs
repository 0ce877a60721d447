//! Reading what finance drops in: the catalog and customer files, and the order inbox.

pub mod catalog;
pub mod csv_source;
pub mod inbox;
pub mod order_file;
pub mod orders;
