//! PostgreSQL access: the pool, embedded migrations and one module of queries per aggregate.
//! Handlers never write SQL; they call these functions.
pub mod deployments;
pub mod events;
pub mod executions;
pub mod functions;
pub mod keys;
pub mod listing;
pub mod outbox;
pub mod rules;
pub mod schedules;
pub mod schema;
pub mod starts;
pub mod variables;

use ::deadpool::Runtime;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{self, Object};
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub type Pool = deadpool::Pool<AsyncPgConnection>;
pub type Conn = Object<AsyncPgConnection>;
pub type PoolError = deadpool::PoolError;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// A lazily connecting pool (connections are opened on first use).
pub fn pool(url: &str, max_connections: usize) -> anyhow::Result<Pool> {
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url);
    Ok(Pool::builder(manager)
        .max_size(max_connections)
        .wait_timeout(Some(std::time::Duration::from_secs(10)))
        .create_timeout(Some(std::time::Duration::from_secs(10)))
        .runtime(Runtime::Tokio1)
        .build()?)
}

/// Runs the pending embedded migrations. Goes through diesel-async's connection wrapper on a
/// blocking thread, so no libpq is needed.
pub async fn run_migrations(url: &str) -> anyhow::Result<()> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        use diesel::Connection;
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("running migrations: {e}"))?;
        for version in applied {
            tracing::info!(%version, "migration applied");
        }
        Ok(())
    })
    .await?
}

/// True when a connection can be had and answers `SELECT 1` (readiness).
pub async fn ping(pool: &Pool) -> bool {
    use diesel_async::RunQueryDsl;
    let Ok(mut conn) = pool.get().await else {
        return false;
    };
    diesel::sql_query("SELECT 1")
        .execute(&mut conn)
        .await
        .is_ok()
}

/// Error of a unit of work that may fail on the pool or in a query.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database pool: {0}")]
    Pool(#[from] PoolError),
    #[error("query: {0}")]
    Query(#[from] diesel::result::Error),
}

impl From<DbError> for crate::error::ApiError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::Pool(e) => e.into(),
            DbError::Query(e) => e.into(),
        }
    }
}
