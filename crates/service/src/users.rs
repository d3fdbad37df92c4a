//! Managing users: from the command line, adding one with a new API key (and a password), listing
//! and revoking API keys, and minting a bearer token for one; from the administrators' page, the
//! list of users and enabling or disabling one. Passwords themselves are [`crate::sessions`]'.

use crate::auth::Caller;
use crate::auth::{self, Tokens};
use crate::error::Code;
use crate::error::{ServiceError, ServiceResult};
use crate::sessions;
use aao_export_db::{ApiKey, User, UserOverview, UsersDb};

/// The roles a user can have: `admin` manages every export; `guest` and `user` their own.
pub const ROLES: [&str; 3] = ["admin", "user", "guest"];

/// A user to create or update.
#[derive(Debug, Clone, Copy)]
pub struct NewUser<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// One of [`ROLES`].
    pub role: &'a str,
    pub email: Option<&'a str>,
    /// To sign in with, under the user id as username.
    pub password: Option<&'a str>,
    /// What the new API key is for (`users keys` shows it).
    pub key_label: Option<&'a str>,
    /// When the new API key stops working (epoch ms); `None`: when revoked.
    pub key_expires_at: Option<i64>,
}

/// Creates or updates a user and gives it a new API key (and, with a password, sets it for
/// signing in); returns the key. Refusals (400) come before anything is written, so a refused
/// password leaves no half-made user.
pub async fn add_user(users: &dyn UsersDb, new: &NewUser<'_>) -> ServiceResult<String> {
    if new.id.trim().is_empty() {
        return Err(ServiceError::invalid("the user id is empty"));
    }
    if !ROLES.contains(&new.role) {
        return Err(ServiceError::invalid(format!("--role {:?}: must be admin, user or guest", new.role)));
    }
    if let Some(password) = new.password {
        sessions::check_new_password(password)?;
    }
    let user = User {
        id: new.id.into(),
        full_name: new.name.into(),
        enabled: true,
        role: new.role.into(),
        primary_email: new.email.map(str::to_string),
    };
    users.put_users(&[user]).await?;
    let (key, record) = auth::new_api_key(new.id, new.key_label, new.key_expires_at);
    users.put_api_key(&record).await?;
    if let Some(password) = new.password {
        sessions::set_password(users, new.id, None, password).await?;
    }
    Ok(key)
}

/// A user's API keys, oldest first (ids, labels and dates: the secrets are not kept); 404 for an
/// unknown user.
pub async fn api_keys(users: &dyn UsersDb, id: &str) -> ServiceResult<Vec<ApiKey>> {
    if users.user(id).await?.is_none() {
        return Err(ServiceError::not_found(format!("no user {id:?}")));
    }
    Ok(users.api_keys_of(id).await?)
}

/// Revokes an API key by its id (as `users keys` lists it): it stops working at once. 404 for a
/// key id that is no key (or was revoked already).
pub async fn revoke_api_key(users: &dyn UsersDb, key_id: &str) -> ServiceResult<()> {
    if !users.revoke_api_key(key_id).await? {
        return Err(ServiceError::not_found(format!(
            "no API key {key_id:?}; `aao-export users keys USER_ID` lists a user's keys"
        )));
    }
    tracing::info!(%key_id, "API key revoked");
    Ok(())
}

/// Enables or disables a user; disabling also ends its sessions at once, and every request with its
/// keys or tokens is refused from then on. 404 for an unknown user.
pub async fn set_enabled(users: &dyn UsersDb, id: &str, enabled: bool) -> ServiceResult<()> {
    if !users.set_enabled(id, enabled).await? {
        return Err(ServiceError::not_found(format!("no user {id:?}")));
    }
    tracing::info!(user_id = %id, enabled, "user enabled or disabled");
    Ok(())
}

/// A bearer token for an existing, enabled user: 404 for an unknown one, 403 for a disabled one.
pub async fn token(tokens: &Tokens, users: &dyn UsersDb, id: &str) -> ServiceResult<String> {
    let Some(user) = users.user(id).await? else {
        return Err(ServiceError::not_found(format!(
            "no user {id:?}; create it with `aao-export users add {id} --name NAME`"
        )));
    };
    if !user.enabled {
        return Err(ServiceError::refuse(Code::UserDisabled, format!("user {id:?} is disabled")));
    }
    Ok(tokens.mint(&user))
}

/// Every user with their identities and last sign-in, for an administrator (403 for anyone else).
pub async fn overview(users: &dyn UsersDb, caller: &Caller) -> ServiceResult<Vec<UserOverview>> {
    require_admin(caller, "see the list of users")?;
    Ok(users.users_overview().await?)
}

/// [`set_enabled`] by an administrator (403 for anyone else). An administrator cannot disable
/// themselves (400): another one must, so that someone is always left to enable people.
pub async fn set_enabled_by(users: &dyn UsersDb, caller: &Caller, id: &str, enabled: bool) -> ServiceResult<()> {
    require_admin(caller, "enable or disable users")?;
    if !enabled && id == caller.id {
        return Err(ServiceError::invalid("you cannot disable yourself; another administrator can"));
    }
    tracing::info!(user_id = %id, enabled, by = %caller.id, "an administrator enables or disables a user");
    set_enabled(users, id, enabled).await
}

fn require_admin(caller: &Caller, to: &str) -> ServiceResult<()> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(ServiceError::refuse(Code::Forbidden, format!("only administrators may {to}")))
    }
}
