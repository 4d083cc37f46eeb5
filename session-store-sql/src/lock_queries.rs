//! The SQL of the session locks: the lease table `{table}_locks` and the
//! statements on it, per dialect. Values are always bound; parameters come
//! in the same order in every dialect.
//!
//! A lease is one row `(id, token, expires_at)`: the session id, the
//! holder's token (32 hex characters) and the end of the lease in Unix ms,
//! by the application's clock, the one the session rows' expiries use.
//!
//! With the lock wake-ups (PostgreSQL, see `wakeups.rs`) a token may carry
//! the mark `:w` (waited on by another process): the refused upsert
//! appends it, renewals and releases accept the token with or without it,
//! and a release of a marked lease announces itself with `pg_notify`.

use crate::dialect::{Sql, SqlDialect};
use crate::ident::TableRef;
#[cfg(doc)]
use session_core::store::LockToken;

/// Every lock statement of one store.
#[derive(Debug)]
pub(crate) struct LockStatements {
    /// PostgreSQL and SQLite: `(id, token, expires_at, now)`, an upsert
    /// that takes the row only if it is absent or its lease ended, and
    /// then answers `(true, expires_at)`. MySQL: `(id, token, expires_at, now,
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
    /// Whether the statements mark waited-on leases and announce their
    /// release (the lock wake-ups). Then `acquire` answers `(taken,
    /// expires_at)` when it took or marked the lease (no row when it did
    /// neither: the lease was marked already, or its holder is of the
    /// asker's process or knows no mark), `extend` accepts the token
    /// marked, and `unlock` answers `(released, announced)`.
    pub(crate) marks: bool,
}

/// The channel a release of a waited-on lease is announced on; its payload
/// is the session id. One for every store of the database: a waiter is
/// woken by its id, and ids are unique across tables too.
pub(crate) const CHANNEL: &str = "typed_sessions_lease_released";

/// The mark of a waited-on lease, appended to its holder's token.
const MARK: &str = ":w";

/// Characters 16 and 17 of a token whose holder knows the mark
/// ([`LockToken::MARK_AWARE`] in hex).
const MARK_AWARE: &str = "a5";

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
    /// The statements on `table`'s lease table; `wakeups` asks for the
    /// marking ones, which only PostgreSQL has (`NOTIFY`).
    pub(crate) fn new(d: SqlDialect, table: &TableRef, wakeups: bool) -> Self {
        if wakeups && d == SqlDialect::Postgres {
            return Self::marking(&lock_table(d, table));
        }
        let t = lock_table(d, table);
        let p = |n| d.param(n);
        let acquire = match d {
            SqlDialect::Postgres => format!(
                "INSERT INTO {t} AS cur (id, token, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET token = excluded.token, \
                 expires_at = excluded.expires_at WHERE cur.expires_at <= $4 \
                 RETURNING true, expires_at"
            ),
            SqlDialect::Sqlite => format!(
                "INSERT INTO {t} (id, token, expires_at) VALUES (?, ?, ?) \
                 ON CONFLICT (id) DO UPDATE SET token = excluded.token, \
                 expires_at = excluded.expires_at WHERE expires_at <= ? \
                 RETURNING true, expires_at"
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
            marks: false,
        }
    }

    /// PostgreSQL's statements with the lock wake-ups. The upsert takes an
    /// absent or ended lease as the plain one does; a live one it marks,
    /// unless it is marked already or held by a token of the asker's
    /// process (the same first 16 hex characters: `LockToken::unique`),
    /// whose request cycle hands the lease on itself, or by a token that
    /// does not know the mark (an older version's, see
    /// [`LockToken::MARK_AWARE`]), whose holder would not recognise its
    /// marked lease. Nothing is written
    /// then, so a waiter's later attempts cost what they cost without the
    /// wake-ups.
    fn marking(t: &str) -> Self {
        let held = format!("(token = $2 OR token = $2 || '{MARK}')");
        LockStatements {
            acquire: format!(
                "INSERT INTO {t} AS cur (id, token, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET \
                 token = CASE WHEN cur.expires_at <= $4 THEN excluded.token \
                 ELSE cur.token || '{MARK}' END, \
                 expires_at = CASE WHEN cur.expires_at <= $4 THEN excluded.expires_at \
                 ELSE cur.expires_at END \
                 WHERE cur.expires_at <= $4 OR (right(cur.token, 2) <> '{MARK}' \
                 AND substr(cur.token, 17, 2) = '{MARK_AWARE}' \
                 AND left(cur.token, 16) <> left($2, 16)) \
                 RETURNING token = $2, expires_at"
            )
            .into(),
            holder: format!("SELECT token, expires_at FROM {t} WHERE id = $1").into(),
            extend: format!(
                "UPDATE {t} SET expires_at = $1 WHERE id = $2 \
                 AND (token = $3 OR token = $3 || '{MARK}') AND expires_at > $4"
            )
            .into(),
            unlock: format!(
                "WITH gone AS (DELETE FROM {t} WHERE id = $1 AND {held} \
                 AND expires_at > $3 RETURNING id, token) \
                 SELECT count(*), count(pg_notify('{CHANNEL}', id)) FILTER (WHERE token <> $2) \
                 FROM gone"
            )
            .into(),
            delete_expired: format!("DELETE FROM {t} WHERE expires_at <= $1").into(),
            marks: true,
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
        let pg = LockStatements::new(SqlDialect::Postgres, &table, false);
        assert!(pg
            .acquire
            .starts_with("INSERT INTO \"app\".\"sess_locks\" AS cur"));
        assert!(pg
            .acquire
            .ends_with("WHERE cur.expires_at <= $4 RETURNING true, expires_at"));
        let my = LockStatements::new(SqlDialect::MySql, &TableRef::new(None, "s").unwrap(), true);
        assert!(!my.marks, "only PostgreSQL marks");
        assert_eq!(
            &*my.unlock,
            "DELETE FROM `s_locks` WHERE id = ? AND token = ? AND expires_at > ?"
        );
        assert_eq!(my.acquire.matches('?').count(), 7);
        let marking = LockStatements::new(SqlDialect::Postgres, &table, true);
        assert!(marking.marks);
        assert!(marking
            .unlock
            .contains(&format!("pg_notify('{CHANNEL}', id)")));
        let ddl = lock_migration_sql(SqlDialect::Sqlite, &table);
        assert!(ddl.starts_with("CREATE TABLE IF NOT EXISTS \"app\".\"sess_locks\""));
    }
}
