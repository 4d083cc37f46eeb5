//! The SQL text for each database: the schema and every statement the store
//! runs. Built once per store; values are always bound, never formatted in.
//!
//! Every statement takes its parameters in the same order in all three
//! dialects (PostgreSQL gets `$1, $2, ...`, the others `?`), so the code that
//! binds them is shared.

use std::fmt;
use std::sync::Arc;

use crate::error::ConfigError;
use crate::ident::TableRef;

/// Which SQL database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SqlDialect {
    /// PostgreSQL (`postgres://`, `postgresql://`).
    Postgres,
    /// MySQL or MariaDB (`mysql://`, `mariadb://`).
    MySql,
    /// SQLite (`sqlite:`).
    Sqlite,
}

impl SqlDialect {
    /// The database a connection URL names, from its scheme.
    ///
    /// ```
    /// use session_store_sql::SqlDialect;
    ///
    /// assert_eq!(SqlDialect::from_url("postgresql://db/app"), Some(SqlDialect::Postgres));
    /// assert_eq!(SqlDialect::from_url("mariadb://root@db/app"), Some(SqlDialect::MySql));
    /// assert_eq!(SqlDialect::from_url("sqlite://sessions.db?mode=rwc"), Some(SqlDialect::Sqlite));
    /// assert_eq!(SqlDialect::from_url("redis://cache"), None);
    /// ```
    pub fn from_url(url: &str) -> Option<Self> {
        let scheme = url.split_once(':')?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => Some(SqlDialect::Postgres),
            "mysql" | "mariadb" => Some(SqlDialect::MySql),
            "sqlite" => Some(SqlDialect::Sqlite),
            _ => None,
        }
    }

    /// The statements that create a session table named `table` (in
    /// `schema`, if given) and its indexes, idempotently: what
    /// [`SqlStore::migrate`](crate::SqlStore::migrate) runs, for teams that
    /// manage migrations themselves.
    ///
    /// ```
    /// use session_store_sql::SqlDialect;
    ///
    /// let sql = SqlDialect::Postgres.migration_sql(Some("auth"), "sessions")?;
    /// assert!(sql[0].starts_with(r#"CREATE TABLE IF NOT EXISTS "auth"."sessions""#));
    /// assert!(SqlDialect::MySql.migration_sql(None, "bad name").is_err());
    /// # Ok::<(), session_store_sql::ConfigError>(())
    /// ```
    pub fn migration_sql(
        self,
        schema: Option<&str>,
        table: &str,
    ) -> Result<Vec<String>, ConfigError> {
        Ok(migration_sql(self, &TableRef::new(schema, table)?))
    }

    /// The cargo feature that compiles this database's driver.
    pub fn feature(self) -> &'static str {
        match self {
            SqlDialect::Postgres => "postgres",
            SqlDialect::MySql => "mysql",
            SqlDialect::Sqlite => "sqlite",
        }
    }

    pub(crate) fn quote(self, name: &str) -> String {
        // Names are checked to be [A-Za-z0-9_]: nothing inside needs escaping.
        match self {
            SqlDialect::MySql => format!("`{name}`"),
            SqlDialect::Postgres | SqlDialect::Sqlite => format!("\"{name}\""),
        }
    }

    /// The `n`-th (1-based) bind parameter.
    pub(crate) fn param(self, n: usize) -> String {
        match self {
            SqlDialect::Postgres => format!("${n}"),
            SqlDialect::MySql | SqlDialect::Sqlite => "?".to_owned(),
        }
    }

    /// `LEAST` of two expressions (SQLite spells it `MIN`).
    fn least(self, a: &str, b: &str) -> String {
        match self {
            SqlDialect::Sqlite => format!("MIN({a}, {b})"),
            SqlDialect::Postgres | SqlDialect::MySql => format!("LEAST({a}, {b})"),
        }
    }
}

impl fmt::Display for SqlDialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SqlDialect::Postgres => "PostgreSQL",
            SqlDialect::MySql => "MySQL",
            SqlDialect::Sqlite => "SQLite",
        })
    }
}

/// The columns a [`Record`](session_core::store::Record) is read from, in the order
/// of `RecordRow` (`store/queries.rs`).
const RECORD_COLUMNS: &str =
    "id, data, created_at, idle_expires_at, absolute_expires_at, version, owner";

/// Shared SQL text (cloning is a reference count).
pub(crate) type Sql = Arc<str>;

/// Every statement of one store, for one dialect and one table.
#[derive(Debug)]
pub(crate) struct Statements {
    /// `(id, data, created, idle, absolute, expires, version, owner, now)`.
    /// PostgreSQL and SQLite: an upsert that replaces only an expired row
    /// (0 rows affected = a live row exists). MySQL: a plain insert of the
    /// first eight parameters; see `purge_expired_id`.
    pub(crate) create: Sql,
    /// `(id, now)`: removes an expired row in the way of a create (MySQL)
    /// or of a rotation.
    pub(crate) purge_expired_id: Sql,
    /// PostgreSQL only: a rotation in one statement, `(id, data, created,
    /// idle, absolute, expires, version, owner, from, now)`. A
    /// data-modifying CTE deletes the live row at `from` and the insert
    /// takes the new row from what it returned: nothing is inserted if
    /// `from` is gone, and a taken new id fails the whole statement (a
    /// unique violation) with the old row still in place. 1 row affected:
    /// moved.
    pub(crate) rotate: Option<Sql>,
    /// As `rotate`, moving only a row at version `expected` (an 11th
    /// parameter).
    pub(crate) rotate_versioned: Option<Sql>,
    /// MySQL and SQLite, where a rotation is a transaction: its `BEGIN`
    /// (SQLite: `BEGIN IMMEDIATE`, the write lock at once, so two rotations
    /// queue instead of failing to upgrade a read lock); `None`: the
    /// driver's plain `BEGIN`.
    pub(crate) begin_rotation: Option<Sql>,
    /// `(id, now)` -> `version` of the live row, locked until the end of
    /// the transaction (`FOR UPDATE`; SQLite's transaction holds the
    /// database's write lock already).
    pub(crate) lock_version: Sql,
    /// `(data, created, idle, absolute, expires, version, owner, id, now)`.
    pub(crate) save: Sql,
    /// As `save`, plus `expected_version`.
    pub(crate) save_versioned: Sql,
    /// `(id, now)` -> `version` of the live row.
    pub(crate) version_of: Sql,
    /// `(id, now)` -> the live row.
    pub(crate) load: Sql,
    /// `(idle, idle, id, now)`: moves the idle expiry, capped at the absolute.
    pub(crate) touch: Sql,
    /// As `touch`, returning the row; `None` where there is no
    /// `UPDATE ... RETURNING` (MySQL): touch, then `load`.
    pub(crate) touch_returning: Option<Sql>,
    /// `(id, now)`.
    pub(crate) delete: Sql,
    /// No parameters.
    pub(crate) clear: Sql,
    /// `(now)` -> `COUNT(*)` of live rows.
    pub(crate) count: Sql,
    /// `(now)` -> ids of live rows.
    pub(crate) ids: Sql,
    /// `(owner, now)` -> ids.
    pub(crate) ids_by_owner: Sql,
    /// `(owner, now)` -> the owner's live rows, through the owner index.
    pub(crate) records_by_owner: Sql,
    /// `(owner, now)` -> `(id, created_at)` of the owner's live rows, in id
    /// order, locked until the transaction ends (`FOR UPDATE`; SQLite's
    /// `BEGIN IMMEDIATE` already holds the write lock): `limit_owner`.
    pub(crate) lock_owner: Sql,
    /// `(owner, now)`.
    pub(crate) delete_by_owner: Sql,
    /// `(after_id, now, limit)` -> live rows in id order, for scans.
    pub(crate) page: Sql,
    /// `(id, version)`: removes a row only if it is still at that version.
    pub(crate) delete_version: Sql,
    /// `(now, limit)` -> `(id, owner)` of up to `limit` expired rows:
    /// PostgreSQL and SQLite remove them in this statement (`DELETE ...
    /// RETURNING`); MySQL, which has no `RETURNING`, selects them `FOR
    /// UPDATE` and removes them with `delete_expired_ids` in the same
    /// transaction.
    pub(crate) delete_expired_batch: Sql,
    /// MySQL: `(now, id, id, ...)` once the list of ids, `(?, ?, ...)`, is
    /// appended: removes the rows that `delete_expired_batch` selected,
    /// if they are still expired.
    pub(crate) delete_expired_ids: Option<Sql>,
}

impl Statements {
    pub(crate) fn new(dialect: SqlDialect, table: &TableRef) -> Self {
        let d = dialect;
        let t = qualified(d, table);
        let p = |n| d.param(n);
        let live = |n| format!("expires_at > {}", p(n));
        let set_record = format!(
            "data = {}, created_at = {}, idle_expires_at = {}, absolute_expires_at = {}, \
             expires_at = {}, version = {}, owner = {}",
            p(1),
            p(2),
            p(3),
            p(4),
            p(5),
            p(6),
            p(7)
        );
        let save = format!(
            "UPDATE {t} SET {set_record} WHERE id = {} AND {}",
            p(8),
            live(9)
        );
        let touch = format!(
            "UPDATE {t} SET idle_expires_at = {}, expires_at = {} WHERE id = {} AND {}",
            d.least(&p(1), "absolute_expires_at"),
            d.least(&p(2), "absolute_expires_at"),
            p(3),
            live(4)
        );
        // Each answers the rows it removes, so that the cleanup can report
        // them as expired (`ExpirySink`).
        let delete_expired_batch = match d {
            SqlDialect::MySql => {
                format!("SELECT id, owner FROM {t} WHERE expires_at <= ? LIMIT ? FOR UPDATE")
            }
            // SKIP LOCKED: several app instances clean up side by side
            // without queueing behind each other's row locks.
            SqlDialect::Postgres => format!(
                "DELETE FROM {t} WHERE id IN (SELECT id FROM {t} WHERE expires_at <= $1 \
                 LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING id, owner"
            ),
            SqlDialect::Sqlite => format!(
                "DELETE FROM {t} WHERE id IN (SELECT id FROM {t} WHERE expires_at <= ? LIMIT ?) \
                 RETURNING id, owner"
            ),
        };
        let delete_expired_ids = (d == SqlDialect::MySql)
            .then(|| format!("DELETE FROM {t} WHERE expires_at <= ? AND id IN ").into());
        let version_of = format!(
            "SELECT version FROM {t} WHERE id = {} AND {}",
            p(1),
            live(2)
        );
        let rotate = match d {
            SqlDialect::Postgres => Some(format!(
                "WITH moved AS (DELETE FROM {t} WHERE id = $9 AND expires_at > $10 RETURNING id) \
                 INSERT INTO {t} (id, data, created_at, idle_expires_at, absolute_expires_at, \
                 expires_at, version, owner) SELECT $1, $2, $3, $4, $5, $6, $7, $8 FROM moved"
            )),
            SqlDialect::MySql | SqlDialect::Sqlite => None,
        };
        Statements {
            create: create_sql(d, &t).into(),
            purge_expired_id: format!(
                "DELETE FROM {t} WHERE id = {} AND expires_at <= {}",
                p(1),
                p(2)
            )
            .into(),
            rotate_versioned: rotate.as_ref().map(|text| {
                text.replacen("RETURNING id", "AND version = $11 RETURNING id", 1)
                    .into()
            }),
            rotate: rotate.map(Into::into),
            begin_rotation: match d {
                SqlDialect::Sqlite => Some("BEGIN IMMEDIATE".into()),
                SqlDialect::Postgres | SqlDialect::MySql => None,
            },
            lock_version: match d {
                SqlDialect::Sqlite => version_of.clone(),
                SqlDialect::Postgres | SqlDialect::MySql => format!("{version_of} FOR UPDATE"),
            }
            .into(),
            save_versioned: format!("{save} AND version = {}", p(10)).into(),
            save: save.into(),
            version_of: version_of.into(),
            load: format!(
                "SELECT {RECORD_COLUMNS} FROM {t} WHERE id = {} AND {}",
                p(1),
                live(2)
            )
            .into(),
            touch_returning: match d {
                SqlDialect::MySql => None,
                SqlDialect::Postgres | SqlDialect::Sqlite => {
                    Some(format!("{touch} RETURNING {RECORD_COLUMNS}").into())
                }
            },
            touch: touch.into(),
            delete: format!("DELETE FROM {t} WHERE id = {} AND {}", p(1), live(2)).into(),
            clear: format!("DELETE FROM {t}").into(),
            count: format!("SELECT COUNT(*) FROM {t} WHERE {}", live(1)).into(),
            ids: format!("SELECT id FROM {t} WHERE {}", live(1)).into(),
            ids_by_owner: format!("SELECT id FROM {t} WHERE owner = {} AND {}", p(1), live(2))
                .into(),
            lock_owner: format!(
                "SELECT id, created_at FROM {t} WHERE owner = {} AND {} ORDER BY id{}",
                p(1),
                live(2),
                match d {
                    SqlDialect::Sqlite => "",
                    SqlDialect::Postgres | SqlDialect::MySql => " FOR UPDATE",
                }
            )
            .into(),
            records_by_owner: format!(
                "SELECT {RECORD_COLUMNS} FROM {t} WHERE owner = {} AND {}",
                p(1),
                live(2)
            )
            .into(),
            delete_by_owner: format!("DELETE FROM {t} WHERE owner = {} AND {}", p(1), live(2))
                .into(),
            page: format!(
                "SELECT {RECORD_COLUMNS} FROM {t} WHERE id > {} AND {} ORDER BY id LIMIT {}",
                p(1),
                live(2),
                p(3)
            )
            .into(),
            delete_version: format!("DELETE FROM {t} WHERE id = {} AND version = {}", p(1), p(2))
                .into(),
            delete_expired_batch: delete_expired_batch.into(),
            delete_expired_ids,
        }
    }
}

/// `"schema"."table"` (or with backticks on MySQL).
fn qualified(d: SqlDialect, table: &TableRef) -> String {
    let name = d.quote(table.table.as_str());
    match &table.schema {
        Some(schema) => format!("{}.{name}", d.quote(schema.as_str())),
        None => name,
    }
}

fn create_sql(d: SqlDialect, t: &str) -> String {
    // PostgreSQL needs a name for the existing row in the conflict clause.
    let target = match d {
        SqlDialect::Postgres => format!("{t} AS cur"),
        SqlDialect::MySql | SqlDialect::Sqlite => t.to_owned(),
    };
    let insert = format!(
        "INSERT INTO {target} (id, data, created_at, idle_expires_at, absolute_expires_at, \
         expires_at, version, owner) VALUES ({})",
        (1..=8).map(|n| d.param(n)).collect::<Vec<_>>().join(", ")
    );
    let replace = "data = excluded.data, created_at = excluded.created_at, \
         idle_expires_at = excluded.idle_expires_at, \
         absolute_expires_at = excluded.absolute_expires_at, expires_at = excluded.expires_at, \
         version = excluded.version, owner = excluded.owner";
    match d {
        // MySQL's ON DUPLICATE KEY UPDATE cannot leave a live row alone and
        // report it; the store inserts, and on a duplicate key purges an
        // expired row and inserts once more.
        SqlDialect::MySql => insert,
        SqlDialect::Postgres => {
            format!("{insert} ON CONFLICT (id) DO UPDATE SET {replace} WHERE cur.expires_at <= $9")
        }
        SqlDialect::Sqlite => {
            format!("{insert} ON CONFLICT (id) DO UPDATE SET {replace} WHERE expires_at <= ?")
        }
    }
}

/// The statements that create the table and its indexes, then the lease
/// table of the session locks (see `lock_queries.rs`), idempotently.
pub(crate) fn migration_sql(d: SqlDialect, table: &TableRef) -> Vec<String> {
    let mut statements = session_table_sql(d, table);
    statements.push(crate::lock_queries::lock_migration_sql(d, table));
    statements
}

fn session_table_sql(d: SqlDialect, table: &TableRef) -> Vec<String> {
    let t = qualified(d, table);
    let name = table.table.as_str();
    let expires_idx = format!("{name}_expires_at_idx");
    let owner_idx = format!("{name}_owner_idx");
    match d {
        SqlDialect::Postgres => vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {t} (\n    \
                 id                  TEXT COLLATE \"C\" PRIMARY KEY,\n    \
                 data                BYTEA NOT NULL,\n    \
                 created_at          BIGINT NOT NULL,\n    \
                 idle_expires_at     BIGINT NOT NULL,\n    \
                 absolute_expires_at BIGINT NOT NULL,\n    \
                 expires_at          BIGINT NOT NULL,\n    \
                 version             BIGINT NOT NULL,\n    \
                 owner               TEXT\n)"
            ),
            // An index lives in its table's schema: its name is not qualified.
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {t} (expires_at)",
                d.quote(&expires_idx)
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {t} (owner)",
                d.quote(&owner_idx)
            ),
        ],
        // Indexes inline: MySQL (unlike MariaDB) has no CREATE INDEX IF NOT EXISTS.
        SqlDialect::MySql => vec![format!(
            "CREATE TABLE IF NOT EXISTS {t} (\n    \
             id                  VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,\n    \
             data                LONGBLOB NOT NULL,\n    \
             created_at          BIGINT NOT NULL,\n    \
             idle_expires_at     BIGINT NOT NULL,\n    \
             absolute_expires_at BIGINT NOT NULL,\n    \
             expires_at          BIGINT NOT NULL,\n    \
             version             BIGINT NOT NULL,\n    \
             owner               TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,\n    \
             PRIMARY KEY (id),\n    \
             INDEX {} (expires_at),\n    \
             INDEX {} (owner(191))\n\
             ) ENGINE = InnoDB",
            d.quote(&expires_idx),
            d.quote(&owner_idx)
        )],
        SqlDialect::Sqlite => {
            // SQLite qualifies the index name, not the table it is on.
            let index = |idx: &str| match &table.schema {
                Some(schema) => format!("{}.{}", d.quote(schema.as_str()), d.quote(idx)),
                None => d.quote(idx),
            };
            let bare = d.quote(name);
            vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\n    \
                     id                  TEXT NOT NULL PRIMARY KEY,\n    \
                     data                BLOB NOT NULL,\n    \
                     created_at          INTEGER NOT NULL,\n    \
                     idle_expires_at     INTEGER NOT NULL,\n    \
                     absolute_expires_at INTEGER NOT NULL,\n    \
                     expires_at          INTEGER NOT NULL,\n    \
                     version             INTEGER NOT NULL,\n    \
                     owner               TEXT\n)"
                ),
                format!(
                    "CREATE INDEX IF NOT EXISTS {} ON {bare} (expires_at)",
                    index(&expires_idx)
                ),
                format!(
                    "CREATE INDEX IF NOT EXISTS {} ON {bare} (owner)",
                    index(&owner_idx)
                ),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(schema: Option<&str>) -> TableRef {
        TableRef::new(schema, "sess").unwrap()
    }

    #[test]
    fn placeholders_follow_the_dialect() {
        let pg = Statements::new(SqlDialect::Postgres, &table(Some("app")));
        assert_eq!(
            &*pg.load,
            "SELECT id, data, created_at, idle_expires_at, absolute_expires_at, version, owner \
             FROM \"app\".\"sess\" WHERE id = $1 AND expires_at > $2"
        );
        let my = Statements::new(SqlDialect::MySql, &table(None));
        assert_eq!(
            &*my.touch,
            "UPDATE `sess` SET idle_expires_at = LEAST(?, absolute_expires_at), \
             expires_at = LEAST(?, absolute_expires_at) WHERE id = ? AND expires_at > ?"
        );
        assert!(my.touch_returning.is_none());
        let lite = Statements::new(SqlDialect::Sqlite, &table(None));
        assert!(lite.touch.contains("MIN(?, absolute_expires_at)"));
    }

    #[test]
    fn the_owner_limit_locks_the_owners_rows_where_rows_lock() {
        let pg = Statements::new(SqlDialect::Postgres, &table(None));
        assert_eq!(
            &*pg.lock_owner,
            "SELECT id, created_at FROM \"sess\" WHERE owner = $1 AND expires_at > $2 \
             ORDER BY id FOR UPDATE"
        );
        let my = Statements::new(SqlDialect::MySql, &table(None));
        assert!(my.lock_owner.ends_with("ORDER BY id FOR UPDATE"));
        // SQLite has no row locks: BEGIN IMMEDIATE holds the write lock.
        let lite = Statements::new(SqlDialect::Sqlite, &table(None));
        assert!(lite.lock_owner.ends_with("ORDER BY id"));
        assert_eq!(lite.begin_rotation.as_deref(), Some("BEGIN IMMEDIATE"));
    }

    #[test]
    fn every_statement_has_as_many_parameters_in_every_dialect() {
        let count = |s: &str, d| match d {
            SqlDialect::Postgres => (1..=12).filter(|n| s.contains(&format!("${n}"))).count(),
            _ => s.matches('?').count(),
        };
        let all = |s: &Statements| {
            vec![
                &s.save,
                &s.save_versioned,
                &s.version_of,
                &s.load,
                &s.touch,
                &s.delete,
                &s.clear,
                &s.count,
                &s.ids,
                &s.ids_by_owner,
                &s.records_by_owner,
                &s.lock_owner,
                &s.delete_by_owner,
                &s.page,
                &s.delete_version,
                &s.delete_expired_batch,
                &s.purge_expired_id,
                &s.lock_version,
            ]
            .into_iter()
            .map(|sql| sql.to_string())
            .collect::<Vec<_>>()
        };
        let dialects = [SqlDialect::Postgres, SqlDialect::MySql, SqlDialect::Sqlite];
        let counts: Vec<Vec<usize>> = dialects
            .iter()
            .map(|&d| {
                all(&Statements::new(d, &table(None)))
                    .iter()
                    .map(|s| count(s, d))
                    .collect()
            })
            .collect();
        assert_eq!(counts[0], counts[1]);
        assert_eq!(counts[0], counts[2]);
        // create: MySQL binds the first eight only
        for (d, n) in [
            (SqlDialect::Postgres, 9),
            (SqlDialect::MySql, 8),
            (SqlDialect::Sqlite, 9),
        ] {
            assert_eq!(count(&Statements::new(d, &table(None)).create, d), n, "{d}");
        }
    }

    #[test]
    fn postgres_rotates_in_one_statement_the_others_in_a_transaction() {
        let pg = Statements::new(SqlDialect::Postgres, &table(None));
        let (plain, versioned) = (pg.rotate.unwrap(), pg.rotate_versioned.unwrap());
        assert!(plain.starts_with("WITH moved AS (DELETE FROM \"sess\" WHERE id = $9"));
        assert!(!plain.contains("$11"));
        assert!(versioned.contains("AND version = $11 RETURNING id"));
        assert!(pg.lock_version.ends_with("FOR UPDATE"));
        for d in [SqlDialect::MySql, SqlDialect::Sqlite] {
            let s = Statements::new(d, &table(None));
            assert!(s.rotate.is_none() && s.rotate_versioned.is_none(), "{d}");
        }
        let my = Statements::new(SqlDialect::MySql, &table(None));
        assert!(my.lock_version.ends_with("FOR UPDATE") && my.begin_rotation.is_none());
        let lite = Statements::new(SqlDialect::Sqlite, &table(None));
        assert_eq!(lite.begin_rotation.as_deref(), Some("BEGIN IMMEDIATE"));
        assert!(!lite.lock_version.contains("FOR UPDATE"));
    }

    #[test]
    fn schema_qualifies_table_and_sqlite_index_names() {
        let sql = migration_sql(SqlDialect::Sqlite, &table(Some("aux")));
        assert!(sql[0].starts_with("CREATE TABLE IF NOT EXISTS \"aux\".\"sess\""));
        assert_eq!(
            sql[1],
            "CREATE INDEX IF NOT EXISTS \"aux\".\"sess_expires_at_idx\" ON \"sess\" (expires_at)"
        );
        let sql = migration_sql(SqlDialect::Postgres, &table(Some("app")));
        assert_eq!(
            sql[2],
            "CREATE INDEX IF NOT EXISTS \"sess_owner_idx\" ON \"app\".\"sess\" (owner)"
        );
        let sql = migration_sql(SqlDialect::MySql, &table(Some("db")));
        assert!(sql[0].starts_with("CREATE TABLE IF NOT EXISTS `db`.`sess`"));
    }
}
