//! The export engine and the job runner: the catalogue indexer ([`index`]), the export pipeline
//! with its ZIP writer ([`archive`]), the runner that turns queue messages into exports
//! ([`runner`]: claim, heartbeat, retry, cancel, complete), the sweeper and rescuer
//! ([`upkeep`]), and the email notices of finished exports ([`notify`]). Object stores are the `aao-export-stores` crate's; demo data the
//! `aao-export-demo` crate's.

pub mod archive;
mod failure;
pub mod index;
pub mod notify;
pub mod runner;
pub mod upkeep;
