//! The archive format, in one place so the export and the preview's estimate cannot drift apart.
//!
//! - [`layout`]: entry names (`all_data.csv`, `ads/{id}/data.json`, images, report pages).
//! - [`project`]: an ad projected onto the fields: its `data.json`, CSV row and report card
//!   (withdrawn participants' ads left out).
//! - [`deflate`]: libdeflate for entries in hand, zlib-rs for entries that stream.
//! - [`zip_stream`]: the ZIP writer, in flat memory whatever the archive's size.
//! - [`report`]: `report.html` and its pages.
//! - [`writer`]: one export's archive, ad by ad.
//! - [`estimate`]: what those parts weigh, measured by running them into byte counters.

pub mod deflate;
pub mod estimate;
pub mod layout;
pub mod project;
pub mod report;
pub mod writer;
pub mod zip_stream;
