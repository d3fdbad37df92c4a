//! [`UsersDb`]: users, API keys, the AAO's local sign-in identities and the count of failed
//! sign-ins per username, and signed-in sessions.

use crate::driver::{Row, query};
use crate::records::{ApiKey, Identity, LockoutRule, ProviderSignIn, SignInGate, UserOverview};
use crate::storage::{Flavour, Storage};
use crate::{DbError, ListedUser, Result, User, UsersDb, sql};
use async_trait::async_trait;
use std::collections::HashMap;

#[async_trait]
impl UsersDb for Storage {
    async fn put_users(&self, users: &[User]) -> Result<()> {
        let mut tx = self.pool.begin(false).await?;
        for u in users {
            query(sql::UPSERT_USER)
                .bind(&u.id)
                .bind(&u.full_name)
                .bind(u.enabled)
                .bind(&u.role)
                .bind(&u.primary_email)
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn user(&self, id: &str) -> Result<Option<User>> {
        let row = query(sql::SELECT_USER).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn enabled_users(&self) -> Result<Vec<ListedUser>> {
        let rows = query(sql::SELECT_ENABLED_USERS).fetch_all(&self.pool).await?;
        let mut users = rows
            .iter()
            .map(|row| {
                Ok(ListedUser {
                    user: user_from_row(row)?,
                    provider: row.try_get("provider")?,
                    username: row.try_get("username")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // By id byte for byte, whatever the database's collation.
        users.sort_by(|a, b| a.user.id.cmp(&b.user.id));
        Ok(users)
    }

    async fn unknown_users(&self, ids: &[String]) -> Result<Vec<String>> {
        let mut known = std::collections::HashSet::new();
        for chunk in ids.chunks(sql::MAX_IN_LIST) {
            let mut q = query(sql::in_list(sql::SELECT_KNOWN_USERS, chunk.len()));
            for id in chunk {
                q = q.bind(id);
            }
            known.extend(q.scalars::<String>(&self.pool).await?);
        }
        Ok(ids.iter().filter(|id| !known.contains(*id)).cloned().collect())
    }

    async fn put_api_key(&self, key: &ApiKey) -> Result<()> {
        query(sql::UPSERT_API_KEY)
            .bind(&key.key_id)
            .bind(&key.user_id)
            .bind(&key.secret_hash)
            .bind(key.created_at)
            .bind(&key.label)
            .bind(key.expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn api_key(&self, key_id: &str) -> Result<Option<(ApiKey, User)>> {
        let Some(row) = query(sql::SELECT_API_KEY).bind(key_id).fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        Ok(Some((api_key_from_row(&row)?, user_from_row(&row)?)))
    }

    async fn api_keys_of(&self, user_id: &str) -> Result<Vec<ApiKey>> {
        let rows = query(sql::SELECT_API_KEYS_OF).bind(user_id).fetch_all(&self.pool).await?;
        rows.iter().map(api_key_from_row).collect()
    }

    async fn revoke_api_key(&self, key_id: &str) -> Result<bool> {
        Ok(query(sql::DELETE_API_KEY).bind(key_id).execute(&self.pool).await? > 0)
    }

    async fn revoke_labelled_api_keys(&self, user_id: &str, label: &str) -> Result<u64> {
        Ok(query(sql::DELETE_LABELLED_API_KEYS).bind(user_id).bind(label).execute(&self.pool).await?)
    }

    async fn touch_api_key(&self, key_id: &str, now: i64, since: i64) -> Result<()> {
        query(sql::TOUCH_API_KEY).bind(key_id).bind(now).bind(since).execute(&self.pool).await?;
        Ok(())
    }

    async fn aao_api_keys(&self, suffix: &str) -> Result<Vec<(String, User)>> {
        if self.flavour != Flavour::Attached {
            return Ok(Vec::new());
        }
        let rows = query(sql::SELECT_AAO_API_KEYS).bind(suffix).fetch_all(&self.pool).await?;
        rows.iter().map(|row| Ok((row.try_get("hashed_key")?, user_from_row(row)?))).collect()
    }

    async fn local_identity(&self, username: &str) -> Result<Option<(Identity, User)>> {
        let Some(row) = query(sql::SELECT_LOCAL_IDENTITY).bind(username).fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        let identity = Identity {
            user_id: row.try_get("user_id")?,
            provider: row.try_get("provider")?,
            provider_user_id: row.try_get("provider_user_id")?,
            password: row.try_get("password")?,
            created_at: row.try_get("created_at")?,
        };
        Ok(Some((identity, user_from_row(&row)?)))
    }

    async fn set_password(&self, user_id: &str, username: Option<&str>, hash: &str, now: i64) -> Result<String> {
        if self.flavour == Flavour::Attached {
            return Err(DbError::AaoOwned(
                "passwords are the Ad Observatory's: set them in its dashboard (its API keeps them as it checks them)",
            ));
        }
        Ok(query(sql::UPSERT_LOCAL_PASSWORD)
            .bind(user_id)
            .bind(username)
            .bind(hash)
            .bind(now)
            .scalar(&self.pool)
            .await?)
    }

    async fn replace_password(&self, user_id: &str, old: &str, new: &str) -> Result<bool> {
        // The AAO's API checks its own MD5 digests: a stronger hash there would lock people out of
        // its dashboard.
        if self.flavour == Flavour::Attached {
            return Ok(false);
        }
        let done = query(sql::REPLACE_LOCAL_PASSWORD).bind(user_id).bind(old).bind(new).execute(&self.pool).await?;
        Ok(done == 1)
    }

    async fn begin_sign_in(&self, key: &str, now: i64, rule: &LockoutRule) -> Result<SignInGate> {
        let mut tx = self.pool.begin(true).await?;
        let counted: Option<i32> = query(sql::COUNT_SIGN_IN_ATTEMPT)
            .bind(key)
            .bind(now)
            .bind(now.saturating_sub(rule.window_ms))
            .bind(i64::from(rule.max_failures))
            .bind(now.saturating_sub(rule.lockout_ms))
            .optional_scalar(&mut tx)
            .await?;
        let gate = match counted {
            Some(failures) => SignInGate::Open { failures: failures.max(0) as u32 },
            // The upsert's condition held the row back: locked out since its last failure.
            None => {
                let last: i64 = query(sql::SELECT_LAST_FAILURE).bind(key).scalar(&mut tx).await?;
                SignInGate::Locked { until: last.saturating_add(rule.lockout_ms) }
            }
        };
        tx.commit().await?;
        Ok(gate)
    }

    async fn clear_failed_sign_ins(&self, key: &str) -> Result<()> {
        let prefix = format!("{key}\n");
        query(sql::CLEAR_FAILED_SIGN_INS).bind(key).bind(prefix).execute(&self.pool).await?;
        Ok(())
    }

    async fn purge_failed_sign_ins(&self, before: i64) -> Result<u64> {
        Ok(query(sql::PURGE_FAILED_SIGN_INS).bind(before).execute(&self.pool).await?)
    }

    async fn start_session(&self, session_id: &str, user_id: &str, now: i64, expires_at: i64) -> Result<()> {
        let mut tx = self.pool.begin(true).await?;
        query(sql::INSERT_SESSION).bind(session_id).bind(user_id).bind(now).bind(expires_at).execute(&mut tx).await?;
        query(sql::UPSERT_LAST_SIGN_IN).bind(user_id).bind(now).execute(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session_alive(&self, session_id: &str, user_id: &str, now: i64) -> Result<bool> {
        let found: Option<i32> =
            query(sql::SESSION_ALIVE).bind(session_id).bind(user_id).bind(now).optional_scalar(&self.pool).await?;
        Ok(found.is_some())
    }

    async fn end_session(&self, session_id: &str) -> Result<bool> {
        Ok(query(sql::END_SESSION).bind(session_id).execute(&self.pool).await? > 0)
    }

    async fn end_sessions_of(&self, user_id: &str) -> Result<u64> {
        Ok(query(sql::END_SESSIONS_OF).bind(user_id).execute(&self.pool).await?)
    }

    async fn set_enabled(&self, user_id: &str, enabled: bool) -> Result<bool> {
        let mut tx = self.pool.begin(true).await?;
        let found = query(sql::SET_USER_ENABLED).bind(user_id).bind(enabled).execute(&mut tx).await? == 1;
        if found && !enabled {
            query(sql::END_SESSIONS_OF).bind(user_id).execute(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(found)
    }

    async fn purge_sessions(&self, now: i64) -> Result<u64> {
        Ok(query(sql::PURGE_SESSIONS).bind(now).execute(&self.pool).await?)
    }

    async fn sign_in_with_provider(&self, s: &ProviderSignIn) -> Result<User> {
        // SQLite's write transaction already runs one at a time.
        let mut tx = self.pool.begin(true).await?;
        if self.flavour != Flavour::Sqlite {
            query(sql::LOCK_PROVIDER_SUBJECT).bind(&s.provider).bind(&s.provider_user_id).execute(&mut tx).await?;
        }
        let found = query(sql::SELECT_PROVIDER_IDENTITY)
            .bind(&s.provider)
            .bind(&s.provider_user_id)
            .fetch_optional(&mut tx)
            .await?;
        let user = match found {
            Some(row) => {
                let user = user_from_row(&row)?;
                query(sql::REFRESH_USER_PROFILE)
                    .bind(&user.id)
                    .bind(&s.full_name)
                    .bind(&s.email)
                    .execute(&mut tx)
                    .await?;
                User {
                    full_name: s.full_name.clone().unwrap_or(user.full_name),
                    primary_email: s.email.clone().or(user.primary_email),
                    ..user
                }
            }
            None => {
                let insert = match self.flavour {
                    Flavour::Attached => sql::INSERT_WAITING_USER,
                    _ => sql::INSERT_WAITING_USER_NAMED,
                };
                query(insert)
                    .bind(&s.new_user_id)
                    .bind(&s.full_name)
                    .bind(false)
                    .bind(&s.email)
                    .execute(&mut tx)
                    .await?;
                query(sql::INSERT_PROVIDER_IDENTITY)
                    .bind(&s.new_user_id)
                    .bind(&s.provider)
                    .bind(&s.provider_user_id)
                    .bind(s.now_secs)
                    .execute(&mut tx)
                    .await?;
                User {
                    id: s.new_user_id.clone(),
                    full_name: s.full_name.clone().unwrap_or_default(),
                    enabled: false,
                    role: "user".into(),
                    primary_email: s.email.clone(),
                }
            }
        };
        tx.commit().await?;
        Ok(user)
    }

    async fn users_overview(&self) -> Result<Vec<UserOverview>> {
        let mut identities: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for row in query(sql::SELECT_ALL_IDENTITIES).fetch_all(&self.pool).await? {
            identities
                .entry(row.try_get("user_id")?)
                .or_default()
                .push((row.try_get("provider")?, row.try_get("provider_user_id")?));
        }
        let rows = query(sql::SELECT_USERS_WITH_LAST_SIGN_IN).fetch_all(&self.pool).await?;
        let mut users = rows
            .iter()
            .map(|row| {
                let user = user_from_row(row)?;
                let mut identities = identities.remove(&user.id).unwrap_or_default();
                identities.sort();
                Ok(UserOverview { identities, last_sign_in: row.try_get("signed_in_at")?, user })
            })
            .collect::<Result<Vec<_>>>()?;
        // By id byte for byte, whatever the database's collation.
        users.sort_by(|a, b| a.user.id.cmp(&b.user.id));
        Ok(users)
    }
}

/// An API key as the key statements select it.
fn api_key_from_row(row: &Row) -> Result<ApiKey> {
    Ok(ApiKey {
        key_id: row.try_get("key_id")?,
        user_id: row.try_get("user_id")?,
        secret_hash: row.try_get("secret_hash")?,
        created_at: row.try_get("created_at")?,
        label: row.try_get("label")?,
        expires_at: row.try_get("expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

/// A user as the user statements select it.
pub(crate) fn user_from_row(row: &Row) -> Result<User> {
    Ok(User {
        id: row.try_get("id")?,
        full_name: row.try_get("full_name")?,
        enabled: row.try_get("enabled")?,
        role: row.try_get("role")?,
        primary_email: row.try_get("primary_email")?,
    })
}
