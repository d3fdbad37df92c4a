//! Managing users from the command line: adding one with a new API key (and a password), and
//! minting a bearer token for one. Passwords themselves are [`crate::sessions`]'.

use crate::auth::{self, Tokens};
use crate::error::{ServiceError, ServiceResult};
use crate::sessions;
use aao_export_db::{User, UsersDb};

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
    let (key, record) = auth::new_api_key(new.id);
    users.put_api_key(&record).await?;
    if let Some(password) = new.password {
        sessions::set_password(users, new.id, None, password).await?;
    }
    Ok(key)
}

/// A bearer token for an existing, enabled user: 404 for an unknown one, 403 for a disabled one.
pub async fn token(tokens: &Tokens, users: &dyn UsersDb, id: &str) -> ServiceResult<String> {
    let Some(user) = users.user(id).await? else {
        return Err(ServiceError::not_found(format!(
            "no user {id:?}; create it with `aao-export users add {id} --name NAME`"
        )));
    };
    if !user.enabled {
        return Err(ServiceError::refuse(crate::error::Code::UserDisabled, format!("user {id:?} is disabled")));
    }
    Ok(tokens.mint(&user))
}
