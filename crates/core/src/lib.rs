//! Pure domain logic of aao-export: no I/O, no async runtime.
//!
//! - [`query`]: the AAO query language, parsed and validated.
//! - [`fields`]: the exportable field catalogue and the resolution of requested fields.
//! - [`export`]: export requests, statuses, the queue message and storage keys.
//! - [`document`]: the export document built per ad and the projection of field paths onto it.
//! - [`catalogue`]: what the observation catalogue extracts from an RDO for searching.
//! - [`csv_cell`]: how a value becomes a CSV cell.
//! - [`archive`]: the ZIP layout and its entry names.

pub mod archive;
pub mod catalogue;
pub mod csv_cell;
pub mod document;
pub mod export;
pub mod fields;
pub mod query;
