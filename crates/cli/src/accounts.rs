//! `aao-export users …`: people, their passwords, API keys and tokens, and whether they may sign in.

use crate::config::Config;
use crate::refuse_on_aao;
use crate::service;
use aao_export_service::sessions;
use aao_export_service::users::{self, NewUser};
use anyhow::{Context, bail};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Create (or update) a user and print a new API key, alone on the last line.
    Add {
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "user", value_parser = users::ROLES)]
        role: String,
        #[arg(long)]
        email: Option<String>,
        /// Also set a password for signing in (the username is the user id, or the one set
        /// before). A command line can be seen by other users of the machine: prefer `users
        /// passwd`, which reads it from standard input.
        #[arg(long)]
        password: Option<String>,
        /// What the new API key is for, shown by `users keys`.
        #[arg(long)]
        key_label: Option<String>,
        /// The new API key stops working after this many days (default: when revoked).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3650))]
        key_expires_in_days: Option<u32>,
    },
    /// List a user's API keys: id, label, created, expires, last used (the keys themselves are
    /// not kept, only shown once when made).
    Keys { id: String },
    /// Revoke an API key by the id `users keys` lists: it stops working at once.
    RevokeKey { key_id: String },
    /// Print a bearer token (JWT) for a user, alone.
    Token { id: String },
    /// Let a disabled user (e.g. one who first signed in through an identity provider) in.
    Enable { id: String },
    /// Refuse a user from now on: its sessions end at once, its keys and tokens stop working.
    Disable { id: String },
    /// Set a user's password for signing in, read as one line from standard input (not echoed
    /// on a terminal) unless --password is given.
    Passwd {
        id: String,
        /// The password (visible to other users of the machine while the command runs; standard
        /// input is safer).
        #[arg(long)]
        password: Option<String>,
        /// The username to sign in with (default: the one set before, else the user id).
        #[arg(long)]
        username: Option<String>,
    },
}

/// `users add`, `users passwd`, `users keys`, `users revoke-key`, `users token`.
pub async fn users_command(
    config: &Config,
    storage: &dyn aao_export_db::Database,
    command: UsersCommand,
) -> anyhow::Result<()> {
    match command {
        UsersCommand::Add { id, name, role, email, password, key_label, key_expires_in_days } => {
            refuse_on_aao(storage, "users add")?;
            let new = NewUser {
                id: &id,
                name: &name,
                role: &role,
                email: email.as_deref(),
                password: password.as_deref(),
                key_label: key_label.as_deref(),
                key_expires_at: key_expires_in_days
                    .map(|days| aao_export_core::time::now_ms() + i64::from(days) * 86_400_000),
            };
            let key = users::add_user(storage, &new).await.map_err(service::refusal)?;
            let signs_in = if password.is_some() { ", signs in with the password given" } else { "" };
            println!("user {id} ({role}) is ready{signs_in}; its API key (shown once):");
            println!("{key}");
        }
        UsersCommand::Passwd { id, password, username } => {
            // Before asking for a password that would go nowhere.
            if storage.user(&id).await?.is_none() {
                bail!("no user {id:?}; create it with `aao-export users add {id} --name NAME`");
            }
            let password = match password {
                Some(password) => password,
                None => read_password_line()?,
            };
            let username =
                sessions::set_password(storage, &id, username.as_deref(), &password).await.map_err(service::refusal)?;
            println!("user {id} now signs in as {username:?} with the new password");
        }
        UsersCommand::Keys { id } => {
            let keys = users::api_keys(storage, &id).await.map_err(service::refusal)?;
            println!("{:<26} {:<16} {:<22} {:<22} last used", "key id", "label", "created", "expires");
            let when = |ms: Option<i64>, none: &str| ms.map_or(none.to_string(), aao_export_core::time::rfc3339);
            for key in &keys {
                println!(
                    "{:<26} {:<16} {:<22} {:<22} {}",
                    key.key_id,
                    key.label.as_deref().unwrap_or("-"),
                    when(Some(key.created_at), ""),
                    when(key.expires_at, "never"),
                    when(key.last_used_at, "never"),
                );
            }
            if keys.is_empty() {
                println!("user {id} has no API keys");
            }
        }
        UsersCommand::RevokeKey { key_id } => {
            users::revoke_api_key(storage, &key_id).await.map_err(service::refusal)?;
            println!("API key {key_id} is revoked");
        }
        UsersCommand::Enable { id } => {
            users::set_enabled(storage, &id, true).await.map_err(service::refusal)?;
            println!("user {id} is enabled");
        }
        UsersCommand::Disable { id } => {
            users::set_enabled(storage, &id, false).await.map_err(service::refusal)?;
            println!("user {id} is disabled: its sessions are ended and its API keys and tokens are refused");
        }
        UsersCommand::Token { id } => {
            let tokens = service::tokens(config)?;
            println!("{}", users::token(&tokens, storage, &id).await.map_err(service::refusal)?);
        }
    }
    Ok(())
}

/// One line of standard input, without its line ending: a password for `users passwd`. On a
/// terminal it asks on standard error and turns echo off while it is typed.
fn read_password_line() -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    let mut line = String::new();
    {
        let _quiet = terminal.then(|| {
            eprint!("new password: ");
            Quiet::on()
        });
        stdin.lock().read_line(&mut line).context("reading the password from standard input")?;
    }
    if terminal {
        eprintln!();
    }
    let password = line.strip_suffix('\n').map_or(line.as_str(), |l| l.strip_suffix('\r').unwrap_or(l));
    if password.is_empty() {
        bail!("no password on standard input: give it as one line (e.g. from a file or a pipe), or use --password");
    }
    Ok(password.to_string())
}

/// Terminal echo off (`stty -echo`) while this lives; best effort: without `stty` the password
/// shows as it is typed, but is still never printed back.
struct Quiet(bool);

impl Quiet {
    fn on() -> Quiet {
        Quiet(std::process::Command::new("stty").arg("-echo").status().is_ok_and(|s| s.success()))
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        if self.0 {
            let _ = std::process::Command::new("stty").arg("echo").status();
        }
    }
}
