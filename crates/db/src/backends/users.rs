//! [`UsersDb`] for both backends: users, API keys, the AAO's local sign-in identities and the
//! count of failed sign-ins per username. Like the other concerns it is one macro over the two
//! sqlx drivers; it lives apart only to keep `backends.rs` readable.

use super::{PgStorage, SqliteStorage, user_from_row};
use crate::records::{ApiKey, Identity, LockoutRule, SignInGate};
use crate::{Result, User, UsersDb, sql};
use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Row};

macro_rules! users_impl {
    ($storage:ty) => {
        #[async_trait]
        impl UsersDb for $storage {
            async fn put_users(&self, users: &[User]) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                for u in users {
                    sqlx::query(sql::UPSERT_USER)
                        .bind(&u.id)
                        .bind(&u.full_name)
                        .bind(u.enabled)
                        .bind(&u.role)
                        .bind(&u.primary_email)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn user(&self, id: &str) -> Result<Option<User>> {
                let row = sqlx::query(sql::SELECT_USER).bind(id).fetch_optional(&self.pool).await?;
                row.as_ref().map(user_from_row).transpose()
            }

            async fn enabled_users(&self) -> Result<Vec<User>> {
                let rows = sqlx::query(sql::SELECT_ENABLED_USERS).fetch_all(&self.pool).await?;
                let mut users = rows.iter().map(user_from_row).collect::<Result<Vec<_>>>()?;
                // By id byte for byte, whatever the database's collation.
                users.sort_by(|a, b| a.id.cmp(&b.id));
                Ok(users)
            }

            async fn unknown_users(&self, ids: &[String]) -> Result<Vec<String>> {
                let mut known = std::collections::HashSet::new();
                for chunk in ids.chunks(sql::MAX_IN_LIST) {
                    let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql::in_list(
                        sql::SELECT_KNOWN_USERS,
                        chunk.len(),
                    )));
                    for id in chunk {
                        q = q.bind(id);
                    }
                    known.extend(q.fetch_all(&self.pool).await?);
                }
                Ok(ids.iter().filter(|id| !known.contains(*id)).cloned().collect())
            }

            async fn put_api_key(&self, key: &ApiKey) -> Result<()> {
                sqlx::query(sql::UPSERT_API_KEY)
                    .bind(&key.key_id)
                    .bind(&key.user_id)
                    .bind(&key.secret_hash)
                    .bind(key.created_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn api_key(&self, key_id: &str) -> Result<Option<(ApiKey, User)>> {
                let Some(row) = sqlx::query(sql::SELECT_API_KEY).bind(key_id).fetch_optional(&self.pool).await? else {
                    return Ok(None);
                };
                let key = ApiKey {
                    key_id: row.try_get("key_id")?,
                    user_id: row.try_get("user_id")?,
                    secret_hash: row.try_get("secret_hash")?,
                    created_at: row.try_get("created_at")?,
                };
                Ok(Some((key, user_from_row(&row)?)))
            }

            async fn local_identity(&self, username: &str) -> Result<Option<(Identity, User)>> {
                let Some(row) =
                    sqlx::query(sql::SELECT_LOCAL_IDENTITY).bind(username).fetch_optional(&self.pool).await?
                else {
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

            async fn set_password(
                &self,
                user_id: &str,
                username: Option<&str>,
                hash: &str,
                now: i64,
            ) -> Result<String> {
                Ok(sqlx::query_scalar(sql::UPSERT_LOCAL_PASSWORD)
                    .bind(user_id)
                    .bind(username)
                    .bind(hash)
                    .bind(now)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn replace_password(&self, user_id: &str, old: &str, new: &str) -> Result<bool> {
                let done = sqlx::query(sql::REPLACE_LOCAL_PASSWORD)
                    .bind(user_id)
                    .bind(old)
                    .bind(new)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn begin_sign_in(&self, username: &str, now: i64, rule: &LockoutRule) -> Result<SignInGate> {
                let mut tx = self.begin_write().await?;
                let counted: Option<i32> = sqlx::query_scalar(sql::COUNT_SIGN_IN_ATTEMPT)
                    .bind(username)
                    .bind(now)
                    .bind(now.saturating_sub(rule.window_ms))
                    .bind(i64::from(rule.max_failures))
                    .bind(now.saturating_sub(rule.lockout_ms))
                    .fetch_optional(&mut *tx)
                    .await?;
                let gate = match counted {
                    Some(failures) => SignInGate::Open { failures: failures.max(0) as u32 },
                    // The upsert's condition held the row back: locked out since its last failure.
                    None => {
                        let last: i64 =
                            sqlx::query_scalar(sql::SELECT_LAST_FAILURE).bind(username).fetch_one(&mut *tx).await?;
                        SignInGate::Locked { until: last.saturating_add(rule.lockout_ms) }
                    }
                };
                tx.commit().await?;
                Ok(gate)
            }

            async fn clear_failed_sign_ins(&self, username: &str) -> Result<()> {
                sqlx::query(sql::CLEAR_FAILED_SIGN_INS).bind(username).execute(&self.pool).await?;
                Ok(())
            }
        }
    };
}

users_impl!(SqliteStorage);
users_impl!(PgStorage);
