//! Pure domain logic of aao-export: no I/O, no async runtime.
//!
//! - [`api`]: the API's request and response bodies (one status object for the API and the archive).
//! - [`body`]: how a request body becomes its type, naming the part at fault.
//! - [`time`]: the one clock, timestamp format and hex helper.
//! - [`query`]: the AAO query language, parsed and validated.
//! - [`fields`]: the exportable field catalogue and the resolution of requested fields.
//! - [`export`]: export requests, statuses, the queue message and storage keys.
//! - [`document`]: the export document built per ad and the projection of field paths onto it.
//! - [`catalogue`]: what the observation catalogue extracts from an RDO for searching.
//! - [`csv_cell`]: how a value becomes a CSV cell.
//! - [`archive`]: the report's page names and the other archive types `export_details.json` carries
//!   (the rest of the format is the `aao-export-archive` crate's, which depends on this one).
//! - [`html`]: the one HTML escaper for ad text.

pub mod api;
pub mod archive;
pub mod body;
pub mod catalogue;
pub mod csv_cell;
pub mod document;
pub mod export;
pub mod fields;
pub mod html;
pub mod query;
pub mod time;
