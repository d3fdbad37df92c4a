//! `aao-export`: one binary for every role. This file parses the command line and wires the
//! configured backends into the engine; the work itself lives in the library crates.

mod accounts;
mod check;
mod config;
mod lambda;
mod secrets;
mod service;

use aao_export_core::export::{ExportParameters, ExportRecord};
use aao_export_core::fields::resolve_fields;
use aao_export_core::query::Query;
use aao_export_core::time::human_bytes;
use aao_export_demo::{DemoConfig, SeedProgress, seed_demo_data};
use aao_export_service::sessions;
use aao_export_service::users::{self, NewUser};
use aao_export_stores::open_store;
use aao_export_worker::archive::{ExportJob, Progress, UploadTarget, build_export};
use aao_export_worker::index::{index_keys, index_observations};
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use config::Config;
use indicatif::{ProgressBar, ProgressStyle};
use secrecy::ExposeSecret;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// jemalloc: the export pipeline allocates many small JSON values on several threads, where
/// glibc's allocator doubled the CPU time; mimalloc was as fast but kept images freed on another
/// thread, growing with the export (both measured, see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(name = "aao-export", version, about = "Server-side data exports for the Australian Ad Observatory")]
struct Cli {
    /// INI configuration file (default: ./aao-export.ini when present). SECTION_KEY environment
    /// variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API, a worker and the sweeper in one process (the embedded shape).
    Serve {
        /// On an empty catalogue, load demo data; create the admin user `demo` and print its API key
        /// and a fresh password for signing in.
        #[arg(long)]
        demo: bool,
    },
    /// Run the HTTP API only (any number of them, stateless).
    Api,
    /// Run a worker only: build exports from the queue, sweep and rescue.
    Worker,
    /// Expire old exports and delete their files, once.
    Sweep,
    /// Send the message again for exports left without one (pending too long, or a worker that
    /// died), once.
    Rescue,
    /// Manage users and their credentials.
    Users {
        #[command(subcommand)]
        command: accounts::UsersCommand,
    },
    /// Create or upgrade the database schema and seed the exportable fields.
    Migrate,
    /// Write a realistic demo observations bucket (RDOs and JPEG images) and index it.
    DemoData {
        /// How many ads to generate.
        #[arg(long, default_value_t = 2000)]
        ads: usize,
        /// Each ad gets between 1 and this many images; 0 writes none (the RDOs still name
        /// one or more, as if their uploads had failed), for measuring what reads RDOs.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(0..=20))]
        images_per_ad: u16,
        /// Seed of the generator: the same seed writes the same data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write the bucket only; `aao-export index` indexes it later.
        #[arg(long)]
        no_index: bool,
    },
    /// Scan the observations store and bring the catalogue up to date.
    Index {
        /// Index just this RDO key (repeatable): read it if it is there, take its ad out of the
        /// catalogue if it is gone. Without it, the whole store is scanned.
        #[arg(long = "key", value_name = "KEY")]
        keys: Vec<String>,
    },
    /// Run one export end to end, without a server, into a local ZIP file.
    Export {
        /// The AAO query, as JSON, e.g. '{"method":"OBSERVER_ID_CONTAINS","args":["4873"]}'.
        #[arg(long)]
        query: String,
        /// Comma-separated field paths (default: the catalogue's default fields).
        #[arg(long, value_delimiter = ',')]
        fields: Vec<String>,
        /// Include each ad's images.
        #[arg(long)]
        include_images: bool,
        /// Where to write the ZIP.
        #[arg(long, value_name = "FILE.zip")]
        out: PathBuf,
        /// Creator recorded in export_details.json.
        #[arg(long, default_value = "cli")]
        creator: String,
    },
    /// Give the exports bucket (EXPORT_S3_BUCKET) the deploy template's rules: outputs/ expire
    /// after EXPORT_EXPORT_EXPIRATION_DAYS, incomplete uploads are aborted after a day, public
    /// access blocked, encryption on. Prints what it changed; changes nothing the second time.
    SetupBucket,
    /// Check the configured database, stores, queue and exports bucket rules; each is reported as
    /// OK or what is wrong, and the exit code is 1 when anything is.
    Check,
}

fn main() -> std::process::ExitCode {
    // Started by the Lambda runtime, the binary takes no arguments: the role is in AAO_ROLE.
    let cli = if lambda::started_by_lambda() { None } else { Some(Cli::parse()) };
    // The service roles log what they do; one-shot commands only warnings (their output is the report).
    let service =
        cli.as_ref().is_none_or(|c| matches!(c.command, Command::Serve { .. } | Command::Api | Command::Worker));
    let default_filter = if service { "info,sqlx=warn,aws=warn,hyper=warn" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        // CloudWatch shows escape codes as they are.
        .with_ansi(cli.is_some())
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    match runtime.block_on(start(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A command, or (no command) the Lambda role.
async fn start(cli: Option<Cli>) -> anyhow::Result<()> {
    let env: std::collections::HashMap<String, String> = std::env::vars().collect();
    let config = Config::load(cli.as_ref().and_then(|c| c.config.as_deref()), &env).await?;
    tracing::debug!(?config, "configuration loaded");
    let storage = aao_export_db::connect_in(config.database_url.expose_secret(), &config.database_schema)
        .await
        .context("opening the database")?;
    match cli {
        None => lambda::run(&config, storage).await,
        Some(cli) => run(cli, config, storage).await,
    }
}

async fn run(cli: Cli, config: Config, storage: Arc<dyn aao_export_db::Database>) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { demo } => {
            if demo {
                refuse_on_aao(storage.as_ref(), "serve --demo")?;
            }
            let demo = if demo { Some(prepare_demo(&config, storage.clone()).await?) } else { None };
            service::run(&config, storage, service::Roles { api: true, worker: true }, |url| {
                println!("aao-export is serving on {url} (Ctrl-C stops it)");
                if let Some(Demo { key, username, password }) = &demo {
                    println!("open {url}/exports in a browser and sign in:");
                    println!("demo sign-in: username {username}, password {password}");
                    println!("demo admin API key: {key}");
                    println!("try: curl -s -H 'X-API-Key: {key}' {url}/exports/fields");
                    println!(
                        "     curl -s -H 'X-API-Key: {key}' -H 'Content-Type: application/json' -d '{{\"query\":{{\"method\":\"ALL\"}},\"include_images\":true}}' {url}/exports"
                    );
                }
            })
            .await?;
        }
        Command::Api => {
            service::run(&config, storage, service::Roles { api: true, worker: false }, |url| println!("API on {url}"))
                .await?
        }
        Command::Worker => service::run(&config, storage, service::Roles { api: false, worker: true }, |_| {}).await?,
        Command::Sweep => service::sweep(&config, storage).await?,
        Command::Rescue => service::rescue(&config, storage).await?,
        Command::Users { command } => accounts::users_command(&config, storage.as_ref(), command).await?,
        Command::Migrate => match storage.attached_to() {
            Some(aao) => println!("database is up to date: attached to {aao}"),
            None => println!("database is up to date ({})", storage.backend()),
        },
        Command::DemoData { ads, images_per_ad, seed, no_index } => {
            refuse_on_aao(storage.as_ref(), "demo-data")?;
            demo_data(&config, storage, DemoConfig { ads, images_per_ad: usize::from(images_per_ad), seed }, no_index)
                .await?
        }
        Command::Index { keys } if !keys.is_empty() => {
            let observations = open_store(&config.observations, &config.aws())?;
            let report = index_keys(storage.clone(), observations, &keys).await?;
            let skipped = keys.len() as u64 - report.scanned;
            if skipped > 0 {
                println!("skipped {skipped} keys that are not RDO keys ({{observer}}/rdo/{{ad}}/output.json)");
            }
            print_index_report(&report, storage.catalogue_size().await?);
        }
        Command::Index { .. } => {
            let observations = open_store(&config.observations, &config.aws())?;
            let spinner = ProgressBar::new_spinner().with_message("indexing");
            let report =
                index_observations(storage.clone(), observations, |n| spinner.set_message(format!("indexed {n} RDOs")))
                    .await?;
            spinner.finish_and_clear();
            print_index_report(&report, storage.catalogue_size().await?);
        }
        Command::Export { query, fields, include_images, out, creator } => {
            export_to_file(&config, storage, &query, fields, include_images, &out, &creator).await?
        }
        Command::SetupBucket => check::setup_bucket(&config).await?,
        Command::Check => check::check(&config, storage).await?,
    }
    Ok(())
}

/// `demo-data`: writes demo ads to the observations store and, unless `no_index`, indexes them.
async fn demo_data(
    config: &Config,
    storage: Arc<dyn aao_export_db::Database>,
    demo: DemoConfig,
    no_index: bool,
) -> anyhow::Result<()> {
    let observations = open_store(&config.observations, &config.aws())?;
    let started = Instant::now();
    let bar = progress_bar(demo.ads as u64, "writing demo ads");
    let written = |n: u64| bar.set_position(n);
    let report =
        seed_demo_data(storage.as_ref(), observations.clone(), &demo, SeedProgress { written: &written }).await?;
    bar.finish_and_clear();
    if no_index {
        println!(
            "wrote {} ads and {} images ({}) to {} in {:.1} s; `aao-export index` indexes them",
            report.ads,
            report.images,
            human_bytes(report.bytes),
            config.observations,
            started.elapsed().as_secs_f64()
        );
        print_activation_codes(&report);
        return Ok(());
    }
    let index_bar = progress_bar(demo.ads as u64, "indexing RDOs");
    let index = index_observations(storage.clone(), observations, |n| index_bar.set_position(n)).await?;
    index_bar.finish_and_clear();
    println!(
        "wrote {} ads and {} images ({}) to {} in {:.1} s",
        report.ads,
        report.images,
        human_bytes(report.bytes),
        config.observations,
        started.elapsed().as_secs_f64()
    );
    print_index_report(&index, storage.catalogue_size().await?);
    print_activation_codes(&report);
    Ok(())
}

/// `export`: one export written to a local ZIP file by the same pipeline as the worker's.
async fn export_to_file(
    config: &Config,
    storage: Arc<dyn aao_export_db::Database>,
    query: &str,
    fields: Vec<String>,
    include_images: bool,
    out: &std::path::Path,
    creator: &str,
) -> anyhow::Result<()> {
    // The query's own message for bad JSON or a bad query, before anything else.
    Query::from_json_str(query)?;
    let catalogue = storage.exportable_fields().await?;
    let requested: Vec<String> = fields.into_iter().map(|f| f.trim().to_string()).filter(|f| !f.is_empty()).collect();
    let fields = resolve_fields(Some(&requested), &catalogue)?;
    let (store, key) = local_target(out)?;
    let parameters = ExportParameters {
        query: serde_json::from_str(query)?,
        include_images,
        fields: fields.iter().map(|f| f.path.clone()).collect(),
    };
    let record = ExportRecord::pending(uuid::Uuid::new_v4(), creator, parameters, 0, aao_export_core::time::now_ms());
    let mut job = ExportJob::new(record, &catalogue)?;
    job.max_image_bytes = config.max_image_bytes;
    let observations = open_store(&config.observations, &config.aws())?;
    let progress = Arc::new(Progress::default());
    let started = Instant::now();
    let bar = progress_bar(0, "exporting ads");
    let ticker = {
        let (bar, progress) = (bar.clone(), progress.clone());
        tokio::spawn(async move {
            loop {
                bar.set_length(progress.total.load(Ordering::Relaxed));
                bar.set_position(progress.processed.load(Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let result =
        build_export(storage, observations, UploadTarget::new(store, &key), &job, progress, Default::default()).await;
    ticker.abort();
    bar.finish_and_clear();
    let summary = result?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "wrote {}: {} ads, {} images{}, {} in {:.2} s ({:.0} ads/s)",
        out.display(),
        summary.ad_count,
        summary.image_count,
        if summary.missing_image_count > 0 {
            format!(" ({} could not be read, listed in export_details.json)", summary.missing_image_count)
        } else {
            String::new()
        },
        human_bytes(summary.size_bytes),
        secs,
        summary.ad_count as f64 / secs.max(1e-9),
    );
    Ok(())
}

/// Commands that would write the AAO's own tables (users, tags, curation) for our purposes.
pub(crate) fn refuse_on_aao(storage: &dyn aao_export_db::Database, command: &str) -> anyhow::Result<()> {
    if let Some(aao) = storage.attached_to() {
        bail!(
            "`{command}` writes users and curation, which are the Ad Observatory's own in its database (attached to \
             {aao}); run it on a database of our own (DATABASE_URL=sqlite://… or another PostgreSQL database)"
        );
    }
    Ok(())
}

struct Demo {
    key: String,
    username: String,
    password: String,
}

/// The label of the API key `serve --demo` makes.
const DEMO_KEY_LABEL: &str = "demo";

/// `serve --demo`: demo data on an empty catalogue, and the admin user `demo` with a new API key
/// and a new random password (each start: nothing guessable stays valid from one run to the next).
async fn prepare_demo(config: &Config, storage: Arc<dyn aao_export_db::Database>) -> anyhow::Result<Demo> {
    if storage.catalogue_size().await? == 0 {
        let observations = open_store(&config.observations, &config.aws())?;
        let demo = DemoConfig { ads: 2000, images_per_ad: 3, seed: 1 };
        let bar = progress_bar(demo.ads as u64, "writing demo ads");
        let written = |n: u64| bar.set_position(n);
        let report =
            seed_demo_data(storage.as_ref(), observations.clone(), &demo, SeedProgress { written: &written }).await?;
        index_observations(storage.clone(), observations, |n| bar.set_position(n)).await?;
        bar.finish_and_clear();
        println!("loaded demo data: {} ads, {} images into {}", report.ads, report.images, config.observations);
        print_activation_codes(&report);
    }
    let password = sessions::random_password();
    // The key made by the previous start goes: one demo key is valid at a time.
    let revoked = storage.revoke_labelled_api_keys("demo", DEMO_KEY_LABEL).await?;
    if revoked > 0 {
        tracing::info!(revoked, "revoked the demo key of the previous start");
    }
    let demo = NewUser {
        id: "demo",
        name: "Demo Admin",
        role: "admin",
        email: None,
        password: None,
        key_label: Some(DEMO_KEY_LABEL),
        key_expires_at: None,
    };
    let key = users::add_user(storage.as_ref(), &demo).await.map_err(service::refusal)?;
    let username = sessions::set_password(storage.as_ref(), "demo", None, &password).await.map_err(service::refusal)?;
    Ok(Demo { key, username, password })
}

/// The demo participants' activation codes (the first 8 hex digits of their UUIDs), for queries.
fn print_activation_codes(report: &aao_export_demo::SeedReport) {
    let codes: Vec<&str> = report
        .observers
        .iter()
        .filter(|(_, withdrawn)| !withdrawn)
        .map(|(uuid, _)| &uuid[..8.min(uuid.len())])
        .collect();
    println!("activation codes (for OBSERVER_ID_CONTAINS): {}", codes.join(" "));
}

/// The folder of `out` as a local object store, and the file's name as the key.
fn local_target(
    out: &std::path::Path,
) -> anyhow::Result<(Arc<dyn object_store::ObjectStore>, object_store::path::Path)> {
    if out.is_dir() {
        bail!("--out {}: is a folder; name a file in it", out.display());
    }
    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("--out {}: not a file name", out.display()))?;
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    if !parent.is_dir() {
        bail!("--out {}: the folder {} does not exist", out.display(), parent.display());
    }
    let store = object_store::local::LocalFileSystem::new_with_prefix(parent)?;
    let key = object_store::path::Path::parse(name)
        .with_context(|| format!("--out {}: unusable file name", out.display()))?;
    Ok((Arc::new(store), key))
}

fn print_index_report(report: &aao_export_worker::index::IndexReport, catalogue_size: u64) {
    println!(
        "indexed {} RDOs: {} new or changed, {} unchanged, {} withdrawn, {} removed, {} unreadable; the catalogue holds {} ads",
        report.scanned,
        report.indexed,
        report.unchanged,
        report.withdrawn,
        report.removed,
        report.unparseable.len(),
        catalogue_size
    );
    for (key, reason) in &report.unparseable {
        println!("  unreadable: {key}: {reason}");
    }
}

fn progress_bar(len: u64, message: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(len).with_message(message);
    bar.set_style(
        ProgressStyle::with_template("{msg:18} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}
