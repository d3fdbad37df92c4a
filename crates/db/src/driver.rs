//! Statements run the same way on either sqlx driver, so that every storage method is written
//! once as plain code over [`Pool`], [`Tx`] and [`Row`], and a flavour differs only in its SQL
//! text and row mappings (see `storage.rs`).
//!
//! A [`Statement`] collects its arguments as [`Value`]s and becomes a typed sqlx query only when
//! it runs, on whichever driver the pool or transaction belongs to. Statements are prepared and
//! cached by the driver as usual (by their text).

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{AssertSqlSafe, Decode, Postgres, Row as _, Sqlite, Type};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// SQLite's result code for a statement its progress handler stopped.
const SQLITE_INTERRUPT: &str = "9";
/// PostgreSQL's SQLSTATE for a statement `statement_timeout` cancelled.
const PG_QUERY_CANCELED: &str = "57014";

fn database_code(e: &sqlx::Error) -> Option<String> {
    e.as_database_error().and_then(|d| d.code()).map(|c| c.into_owned())
}

/// Clears its flag when dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// A connection pool of either driver.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(sqlx::SqlitePool),
    /// `ids`: how this database keeps UUIDs.
    Postgres(sqlx::PgPool, Ids),
}

/// How a PostgreSQL database keeps UUIDs: as `UUID`, or as text (the AAO's database, where every
/// id is a `VARCHAR`). A [`Value::Uuid`] is bound as the one or the other; [`Row::uuid`] reads
/// either.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ids {
    Uuid,
    Text,
}

/// An open transaction of either driver; dropped without [`Tx::commit`], it rolls back.
pub(crate) enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>, Ids),
}

impl Pool {
    /// A transaction. On SQLite, `write` takes the write lock up front (`BEGIN IMMEDIATE`): a
    /// transaction that reads then writes cannot upgrade its lock while another connection
    /// writes, and would fail instead of waiting.
    pub(crate) async fn begin(&self, write: bool) -> sqlx::Result<Tx> {
        Ok(match self {
            Pool::Sqlite(p) if write => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Pool::Postgres(p, ids) => Tx::Postgres(p.begin().await?, *ids),
        })
    }
}

impl Tx {
    pub(crate) async fn commit(self) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx, _) => tx.commit().await,
        }
    }
}

/// Where a statement runs: on a pooled connection, or inside a transaction.
pub(crate) enum On<'a> {
    Pool(&'a Pool),
    Tx(&'a mut Tx),
}

impl On<'_> {
    /// The same place again, for one more statement.
    pub(crate) fn reborrow(&mut self) -> On<'_> {
        match self {
            On::Pool(pool) => On::Pool(pool),
            On::Tx(tx) => On::Tx(tx),
        }
    }
}

impl<'a> From<&'a Pool> for On<'a> {
    fn from(pool: &'a Pool) -> Self {
        On::Pool(pool)
    }
}

impl<'a> From<&'a mut Tx> for On<'a> {
    fn from(tx: &'a mut Tx) -> Self {
        On::Tx(tx)
    }
}

/// An argument of a statement. Each kind carries its own `NULL`, so that PostgreSQL learns the
/// parameter's type even when the value is absent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(Option<bool>),
    Uuid(Option<Uuid>),
}

/// A Rust type that can be a statement's argument: which kind of [`Value`] it becomes, and so
/// which typed `NULL` its absence is.
pub(crate) trait Arg: Sized {
    fn into_value(v: Option<Self>) -> Value;
}

impl Arg for String {
    fn into_value(v: Option<Self>) -> Value {
        Value::Text(v)
    }
}

impl Arg for &str {
    fn into_value(v: Option<Self>) -> Value {
        Value::Text(v.map(str::to_owned))
    }
}

impl Arg for &String {
    fn into_value(v: Option<Self>) -> Value {
        Value::Text(v.cloned())
    }
}

impl Arg for i64 {
    fn into_value(v: Option<Self>) -> Value {
        Value::Int(v)
    }
}

impl Arg for i32 {
    fn into_value(v: Option<Self>) -> Value {
        Value::Int(v.map(i64::from))
    }
}

impl Arg for f64 {
    fn into_value(v: Option<Self>) -> Value {
        Value::Float(v)
    }
}

impl Arg for bool {
    fn into_value(v: Option<Self>) -> Value {
        Value::Bool(v)
    }
}

impl Arg for Uuid {
    fn into_value(v: Option<Self>) -> Value {
        Value::Uuid(v)
    }
}

impl<T: Arg> From<T> for Value {
    fn from(v: T) -> Self {
        T::into_value(Some(v))
    }
}

impl<T: Arg> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        T::into_value(v)
    }
}

impl From<&Uuid> for Value {
    fn from(v: &Uuid) -> Self {
        Value::Uuid(Some(*v))
    }
}

impl From<&Option<String>> for Value {
    fn from(v: &Option<String>) -> Self {
        Value::Text(v.clone())
    }
}

impl From<&crate::search::Bind> for Value {
    fn from(b: &crate::search::Bind) -> Self {
        use crate::search::Bind;
        match b {
            Bind::Text(s) => Value::Text(Some(s.clone())),
            Bind::Float(f) => Value::Float(Some(*f)),
            Bind::Int(i) => Value::Int(Some(*i)),
        }
    }
}

/// A statement and its arguments, in placeholder order.
#[must_use = "a statement does nothing until it runs"]
pub(crate) struct Statement {
    text: String,
    args: Vec<Value>,
}

/// A statement: `$1`, `$2`, … are bound in the order of [`Statement::bind`] (SQLite reads `$n`
/// too).
pub(crate) fn query(text: impl Into<String>) -> Statement {
    Statement { text: text.into(), args: Vec::new() }
}

impl Statement {
    pub(crate) fn bind(mut self, value: impl Into<Value>) -> Self {
        self.args.push(value.into());
        self
    }

    pub(crate) fn bind_all<'b>(mut self, values: impl IntoIterator<Item = &'b crate::search::Bind>) -> Self {
        self.args.extend(values.into_iter().map(Value::from));
        self
    }

    fn sqlite(self) -> Query<'static, Sqlite, SqliteArguments> {
        let mut q = sqlx::query(AssertSqlSafe(self.text));
        for v in self.args {
            q = match v {
                Value::Text(v) => q.bind(v),
                Value::Int(v) => q.bind(v),
                Value::Float(v) => q.bind(v),
                Value::Bool(v) => q.bind(v),
                Value::Uuid(v) => q.bind(v),
            };
        }
        q
    }

    fn postgres(self, ids: Ids) -> Query<'static, Postgres, PgArguments> {
        let mut q = sqlx::query(AssertSqlSafe(self.text));
        for v in self.args {
            q = match v {
                Value::Text(v) => q.bind(v),
                Value::Int(v) => q.bind(v),
                Value::Float(v) => q.bind(v),
                Value::Bool(v) => q.bind(v),
                Value::Uuid(v) if ids == Ids::Text => q.bind(v.map(|id| id.hyphenated().to_string())),
                Value::Uuid(v) => q.bind(v),
            };
        }
        q
    }

    /// Runs it; how many rows it changed.
    pub(crate) async fn execute<'a>(self, on: impl Into<On<'a>>) -> sqlx::Result<u64> {
        Ok(match on.into() {
            On::Pool(Pool::Sqlite(p)) => self.sqlite().execute(p).await?.rows_affected(),
            On::Pool(Pool::Postgres(p, ids)) => self.postgres(*ids).execute(p).await?.rows_affected(),
            On::Tx(Tx::Sqlite(tx)) => self.sqlite().execute(&mut **tx).await?.rows_affected(),
            On::Tx(Tx::Postgres(tx, ids)) => self.postgres(*ids).execute(&mut **tx).await?.rows_affected(),
        })
    }

    pub(crate) async fn fetch_all<'a>(self, on: impl Into<On<'a>>) -> sqlx::Result<Vec<Row>> {
        Ok(match on.into() {
            On::Pool(Pool::Sqlite(p)) => self.sqlite().fetch_all(p).await?.into_iter().map(Row::Sqlite).collect(),
            On::Pool(Pool::Postgres(p, ids)) => {
                self.postgres(*ids).fetch_all(p).await?.into_iter().map(Row::Postgres).collect()
            }
            On::Tx(Tx::Sqlite(tx)) => self.sqlite().fetch_all(&mut **tx).await?.into_iter().map(Row::Sqlite).collect(),
            On::Tx(Tx::Postgres(tx, ids)) => {
                self.postgres(*ids).fetch_all(&mut **tx).await?.into_iter().map(Row::Postgres).collect()
            }
        })
    }

    pub(crate) async fn fetch_optional<'a>(self, on: impl Into<On<'a>>) -> sqlx::Result<Option<Row>> {
        Ok(match on.into() {
            On::Pool(Pool::Sqlite(p)) => self.sqlite().fetch_optional(p).await?.map(Row::Sqlite),
            On::Pool(Pool::Postgres(p, ids)) => self.postgres(*ids).fetch_optional(p).await?.map(Row::Postgres),
            On::Tx(Tx::Sqlite(tx)) => self.sqlite().fetch_optional(&mut **tx).await?.map(Row::Sqlite),
            On::Tx(Tx::Postgres(tx, ids)) => self.postgres(*ids).fetch_optional(&mut **tx).await?.map(Row::Postgres),
        })
    }

    /// Runs it on `pool` within `budget`, or `None` when the budget ran out: the database
    /// itself stops the statement then (PostgreSQL's `statement_timeout`, SQLite's progress
    /// handler), so that a slow query never holds a connection past its budget.
    pub(crate) async fn fetch_all_within(self, pool: &Pool, budget: Duration) -> sqlx::Result<Option<Vec<Row>>> {
        match pool {
            Pool::Sqlite(p) => {
                let mut conn = p.acquire().await?;
                let deadline = Instant::now() + budget;
                // Cleared when this call ends, however it ends (a caller may drop it midway):
                // the handler left on the pooled connection then never interrupts anything.
                let running = Arc::new(AtomicBool::new(true));
                let _stop = StopOnDrop(running.clone());
                conn.lock_handle()
                    .await?
                    .set_progress_handler(1_000, move || !running.load(Ordering::Relaxed) || Instant::now() < deadline);
                let result = self.sqlite().fetch_all(&mut *conn).await;
                conn.lock_handle().await?.remove_progress_handler();
                match result {
                    Ok(rows) => Ok(Some(rows.into_iter().map(Row::Sqlite).collect())),
                    Err(e) if database_code(&e).as_deref() == Some(SQLITE_INTERRUPT) => Ok(None),
                    Err(e) => Err(e),
                }
            }
            Pool::Postgres(p, ids) => {
                let mut tx = p.begin().await?;
                let millis = budget.as_millis().clamp(1, i32::MAX as u128);
                sqlx::query(AssertSqlSafe(format!("SET LOCAL statement_timeout = {millis}"))).execute(&mut *tx).await?;
                match self.postgres(*ids).fetch_all(&mut *tx).await {
                    Ok(rows) => {
                        tx.commit().await?;
                        Ok(Some(rows.into_iter().map(Row::Postgres).collect()))
                    }
                    // Dropping the transaction rolls it back.
                    Err(e) if database_code(&e).as_deref() == Some(PG_QUERY_CANCELED) => Ok(None),
                    Err(e) => Err(e),
                }
            }
        }
    }

    pub(crate) async fn fetch_one<'a>(self, on: impl Into<On<'a>>) -> sqlx::Result<Row> {
        self.fetch_optional(on).await?.ok_or(sqlx::Error::RowNotFound)
    }

    /// The first column of the one row it returns.
    pub(crate) async fn scalar<'a, T: Column>(self, on: impl Into<On<'a>>) -> sqlx::Result<T> {
        self.fetch_one(on).await?.first()
    }

    /// The first column of the row it returns, if it returns one.
    pub(crate) async fn optional_scalar<'a, T: Column>(self, on: impl Into<On<'a>>) -> sqlx::Result<Option<T>> {
        self.fetch_optional(on).await?.as_ref().map(Row::first).transpose()
    }

    /// The first column of every row it returns.
    pub(crate) async fn scalars<'a, T: Column>(self, on: impl Into<On<'a>>) -> sqlx::Result<Vec<T>> {
        self.fetch_all(on).await?.iter().map(Row::first).collect()
    }
}

/// A value either driver can read from a column.
pub(crate) trait Column:
    for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}
impl<T> Column for T where T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres> {}

/// A row of either driver.
pub(crate) enum Row {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

impl Row {
    /// The column named `name`, read as `T`.
    pub(crate) fn try_get<T: Column>(&self, name: &str) -> sqlx::Result<T> {
        match self {
            Row::Sqlite(r) => r.try_get(name),
            Row::Postgres(r) => r.try_get(name),
        }
    }

    /// A UUID, kept as `UUID` (or a SQLite blob) or as text.
    pub(crate) fn uuid(&self, name: &str) -> sqlx::Result<Uuid> {
        self.try_get::<Uuid>(name).or_else(|e| {
            let text: String = self.try_get(name).map_err(|_| e)?;
            Uuid::parse_str(&text)
                .map_err(|e| sqlx::Error::Decode(format!("column {name} holds {text:?}, not a UUID: {e}").into()))
        })
    }

    fn first<T: Column>(&self) -> sqlx::Result<T> {
        match self {
            Row::Sqlite(r) => r.try_get(0),
            Row::Postgres(r) => r.try_get(0),
        }
    }
}
