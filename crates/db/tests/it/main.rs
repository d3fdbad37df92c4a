//! The storage crate's integration tests, one binary (so the suite links once): the storage
//! story on every backend, previews' counts and estimates, the query compiler against the
//! evaluator, and the service's use of storage.

mod common;

mod preview_story;
mod query_equivalence;
mod service_story;
mod storage_story;
