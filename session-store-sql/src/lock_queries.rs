//! The SQL of the session locks: the lease table `{table}_locks` and the
//! statements on it, per dialect. Values are always bound; parameters come
//! in the same order in every dialect.
//!
//! A lease is one row `(id, token, expires_at)`: the session id, the
//! holder's token (32 hex characters) and the end of the lease in Unix ms,
//! by the application's clock, the one the session rows' expiries use.

use crate::dialect::{Sql, SqlDialect};
use crate::ident::TableRef;

/// Every lock statement of one store.
#[derive(Debug)]
pub(crate) struct LockStatements {
    /// PostgreSQL and SQLite: `(id, token, expires_at, now)`, an upsert
    /// that takes the row only if it is absent or its lease ended, and
    /// returns the id if it did. MySQL: `(id, token, expires_at, now,
    /// token, now, expires_at)`, an upsert whose conditional assignments
    /// leave a live lease alone (what it did is read back with `holder`).
    pub(crate) acquire: Sql,
    /// `(id)` -> `token, expires_at` of the lease row.
    pub(crate) holder: Sql,
    /// `(expires_at, id, token, now)`: renews a live lease of `token`.
    pub(crate) extend: Sql,
    /// `(id, token, now)`: ends a live lease of `token`.
    pub(crate) unlock: Sql,
    /// `(now)`: removes every lease that has ended.
    pub(crate) delete_expired: Sql,
}

/// The lease table's name beside the session table: `{table}_locks`, in
/// the same schema, quoted for the dialect.
fn lock_table(d: SqlDialect, table: &TableRef) -> String {
    let name = d.quote(&format!("{}_locks", table.table.as_str()));
    match &table.schema {
        Some(schema) => format!("{}.{name}", d.quote(schema.as_str())),
        None => name,
    }
}

impl LockStatements {
    pub(crate) fn new(d: SqlDialect, table: &TableRef) -> Self {
        let t = lock_table(d, table);
        let p = |n| d.param(n);
        let acquire = match d {
            SqlDialect::Postgres => format!(
                "INSERT INTO {t} AS cur (id, token, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET token = excluded.token, \
                 expires_at = excluded.expires_at WHERE cur.expires_at <= $4 RETURNING id"
            ),
            SqlDialect::Sqlite => format!(
                "INSERT INTO {t} (id, token, expires_at) VALUES (?, ?, ?) \
                 ON CONFLICT (id) DO UPDATE SET token = excluded.token, \
                 expires_at = excluded.expires_at WHERE expires_at <= ? RETURNING id"
            ),
            // Assignments run left to right: `token` is decided on the old
            // `expires_at`, which is assigned after it.
            SqlDialect::MySql => format!(
                "INSERT INTO {t} (id, token, expires_at) VALUES (?, ?, ?) \
                 ON DUPLICATE KEY UPDATE token = IF(expires_at <= ?, ?, token), \
                 expires_at = IF(expires_at <= ?, ?, expires_at)"
            ),
        };
        LockStatements {
            acquire: acquire.into(),
            holder: format!("SELECT token, expires_at FROM {t} WHERE id = {}", p(1)).into(),
            extend: format!(
                "UPDATE {t} SET expires_at = {} WHERE id = {} AND token = {} AND expires_at > {}",
                p(1),
                p(2),
                p(3),
                p(4)
            )
            .into(),
            unlock: format!(
                "DELETE FROM {t} WHERE id = {} AND token = {} AND expires_at > {}",
                p(1),
                p(2),
                p(3)
            )
            .into(),
            delete_expired: format!("DELETE FROM {t} WHERE expires_at <= {}", p(1)).into(),
        }
    }
}

/// The statement that creates the lease table, idempotently. No index
/// beyond the key: the table holds the leases of sessions in use right now
/// (a released lease is deleted), so cleanup scans a few rows.
pub(crate) fn lock_migration_sql(d: SqlDialect, table: &TableRef) -> String {
    let t = lock_table(d, table);
    match d {
        SqlDialect::Postgres => format!(
            "CREATE TABLE IF NOT EXISTS {t} (\n    \
             id         TEXT COLLATE \"C\" PRIMARY KEY,\n    \
             token      TEXT NOT NULL,\n    \
             expires_at BIGINT NOT NULL\n)"
        ),
        SqlDialect::MySql => format!(
            "CREATE TABLE IF NOT EXISTS {t} (\n    \
             id         VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,\n    \
             token      CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,\n    \
             expires_at BIGINT NOT NULL,\n    \
             PRIMARY KEY (id)\n\
             ) ENGINE = InnoDB"
        ),
        SqlDialect::Sqlite => format!(
            "CREATE TABLE IF NOT EXISTS {t} (\n    \
             id         TEXT NOT NULL PRIMARY KEY,\n    \
             token      TEXT NOT NULL,\n    \
             expires_at INTEGER NOT NULL\n)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_table_sits_beside_the_session_table() {
        let table = TableRef::new(Some("app"), "sess").unwrap();
        let pg = LockStatements::new(SqlDialect::Postgres, &table);
        assert!(pg
            .acquire
            .starts_with("INSERT INTO \"app\".\"sess_locks\" AS cur"));
        assert!(pg
            .acquire
            .ends_with("WHERE cur.expires_at <= $4 RETURNING id"));
        let my = LockStatements::new(SqlDialect::MySql, &TableRef::new(None, "s").unwrap());
        assert_eq!(
            &*my.unlock,
            "DELETE FROM `s_locks` WHERE id = ? AND token = ? AND expires_at > ?"
        );
        assert_eq!(my.acquire.matches('?').count(), 7);
        let ddl = lock_migration_sql(SqlDialect::Sqlite, &table);
        assert!(ddl.starts_with("CREATE TABLE IF NOT EXISTS \"app\".\"sess_locks\""));
    }
}
