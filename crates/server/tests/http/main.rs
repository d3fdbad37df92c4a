//! The API over HTTP: each test spawns the app on 127.0.0.1:0 with its own database (SQLite, and
//! PostgreSQL when `TEST_DATABASE_URL` is set), database queue and exports folder, and drives it
//! with reqwest. One test binary, so the suite links once.

mod common;

mod api;
mod attached;
mod authorization;
mod bad_input;
mod dashboard;
mod download_link;
mod downloads;
mod hardening;
mod oidc;
mod oversized;
mod pages;
mod preview;
mod service;
mod sessions;
mod shapes;
