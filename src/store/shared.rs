//! Statements written once for both backends.

/// Writes one async function once and compiles it for each backend, as `$name::sqlite::run`
/// and `$name::postgres::run`; in the signature and body, `Db` names the backend's database
/// type (`sqlx::Sqlite`, `sqlx::Postgres`). Static dispatch: two monomorphic copies, no trait
/// objects, and the SQL text is shared.
macro_rules! for_each_backend {
    ($(#[$meta:meta])* fn $name:ident($($arg:tt)*) -> $ret:ty $body:block) => {
        $(#[$meta])*
        #[allow(unused_imports)]
        pub(super) mod $name {
            use super::*;
            pub(crate) mod sqlite {
                use super::*;
                pub(crate) type Db = sqlx::Sqlite;
                pub(crate) async fn run($($arg)*) -> $ret $body
            }
            pub(crate) mod postgres {
                use super::*;
                pub(crate) type Db = sqlx::Postgres;
                pub(crate) async fn run($($arg)*) -> $ret $body
            }
        }
    };
}
pub(crate) use for_each_backend;
