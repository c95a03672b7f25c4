//! Team statements that change only the fields given (see [`super::keys::update_columns`]).

use super::keys::{update_columns, Column};
use super::{Store, StoreError};

impl Store {
    /// Changes only the given columns of a team, in one statement: concurrent changes of other
    /// fields are never undone by a rewrite of the row from a copy.
    pub async fn patch_team(
        &self,
        id: &str,
        columns: &[(&'static str, Column)],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        update_columns(&mut tx, "teams", id, columns)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => StoreError::NotFound(format!("team '{id}' not found")),
                other => other,
            })?;
        tx.commit().await?;
        Ok(())
    }
}
