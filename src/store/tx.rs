//! A write transaction on either backend.
//!
//! [`Tx`] is to a transaction what [`super::Pool`] is to a pool: an enum with a variant per
//! backend, and a macro ([`on_tx!`]) that compiles the same statement for each. SQLite opens it
//! with `BEGIN IMMEDIATE` (the database's write lock, taken up front: a transaction that reads
//! before it writes waits its turn instead of failing to upgrade, and is serialised with every
//! other writer). PostgreSQL opens a plain `BEGIN` (READ COMMITTED): there, a transaction that
//! relies on a read staying true until it writes must lock what it read (`SELECT … FOR
//! UPDATE`), which the statements that need it write per backend.

use sqlx::{Postgres, Sqlite};

use super::{Pool, Store, StoreError};

/// An open write transaction. Dropped without [`Tx::commit`], it rolls back.
pub(crate) enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// Runs `$body` with `$conn` bound to the transaction's connection (`&mut SqliteConnection` or
/// `&mut PgConnection`), whichever backend it is: the same statement, compiled once per
/// backend. `$conn` is a `&mut`: a body running several statements reborrows it (`&mut *conn`).
macro_rules! on_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match $tx {
            $crate::store::tx::Tx::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            $crate::store::tx::Tx::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use on_tx;

impl Tx {
    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    /// `FOR UPDATE` on PostgreSQL (lock the rows read, until commit), nothing on SQLite (the
    /// transaction already holds the database's write lock): appended to a `SELECT` that a
    /// later write of the same transaction depends on.
    pub(crate) fn lock_rows(&self) -> &'static str {
        match self {
            Tx::Sqlite(_) => "",
            Tx::Postgres(_) => " FOR UPDATE",
        }
    }
}

impl Store {
    /// A write transaction on either backend (see [`Tx`]).
    pub(crate) async fn begin_write(&self) -> Result<Tx, StoreError> {
        Ok(match &self.pool {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }
}
