//! The worker's integration tests, one binary (so the suite links once): exports end to end,
//! the report, the indexer's sizes and batches, the job runner and the email notices.

mod common;

mod export_e2e;
mod index_sizes;
mod notify;
mod report_e2e;
mod runner;
