//! The export engine and the job runner: object stores, the catalogue indexer, the ZIP builder,
//! the runner that turns queue messages into exports, and the sweeper and rescuer. Demo data is
//! the `aao-export-demo` crate's.

pub mod archive;
pub mod index;
pub mod runner;
pub mod stores;
pub mod upkeep;
