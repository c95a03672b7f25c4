//! A scratch PostgreSQL database for a test: created with a random name on the server of
//! `TOLLGATE_TEST_POSTGRES_URL`, dropped when its guard is dropped. Shared by the test binaries
//! that need a database of their own (`#[path]`-included).

use sqlx::{Connection, Executor, PgConnection};

/// Drops its PostgreSQL database when dropped (on a thread of its own, so that it also runs
/// while a failed test unwinds inside the runtime).
pub struct DbGuard {
    pub server: String,
    pub name: String,
}

impl Drop for DbGuard {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let mut admin = PgConnection::connect(&format!("{server}/postgres")).await?;
                    admin
                        .execute(
                            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str(),
                        )
                        .await?;
                    Ok::<_, sqlx::Error>(())
                })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

/// The server part of a PostgreSQL URL (scheme, user, host, port), without a database or
/// query.
pub fn server_of(url: &str) -> String {
    let url = url.split('?').next().unwrap_or(url);
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let host = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{host}")
}

impl DbGuard {
    /// Creates a fresh database on the server of `url` (any PostgreSQL URL).
    pub async fn create(url: &str) -> DbGuard {
        let server = server_of(url);
        let name = format!("tollgate_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(&format!("{server}/postgres"))
            .await
            .unwrap_or_else(|e| panic!("{url}: cannot connect: {e}"));
        admin
            .execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
            .expect("create the test database");
        admin.close().await.ok();
        DbGuard { server, name }
    }

    /// The database's URL.
    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }
}
