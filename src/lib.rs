//! subsweep: the nightly back office of a cloud reseller. See ARCHITECTURE.md for the map.

pub mod app;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod explain;
pub mod failpoint;
pub mod generate;
pub mod intake;
pub mod interrupt;
pub mod jobs;
pub mod logging;
pub mod output;
pub mod output_folder;
pub mod preview;
pub mod runner;
pub mod serve;
pub mod shown;
pub mod status;
pub mod stdout;
pub mod store;
