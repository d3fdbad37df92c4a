//! The export engine: object stores, the catalogue indexer, the ZIP builder and demo data.

pub mod archive;
pub mod demo;
pub mod seed;
pub mod index;
pub mod stores;
