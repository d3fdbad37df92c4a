//! The export engine and the job runner: object stores, the catalogue indexer, the ZIP builder,
//! demo data, the runner that turns queue messages into exports, and the sweeper and rescuer.

pub mod archive;
pub mod demo;
pub mod index;
pub mod runner;
pub mod seed;
pub mod stores;
pub mod upkeep;
