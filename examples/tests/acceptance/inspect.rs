//! Looking under a demo: the raw contents of its store, read with the same
//! clients the stores use (fred, sqlx and the MongoDB driver, as the store
//! crates re-export them), and removing what a test left in a shared server.

use session_store_mongo::mongodb;
use session_store_redis::fred;
use session_store_sql::sqlx::{self, AssertSqlSafe, Connection};

use fred::interfaces::ClientLike;
use fred::prelude::{Builder, Config, Value};
use fred::types::{ClusterHash, CustomCommand};

/// One stored item: a Redis key, an SQL row or a MongoDB document, with
/// every byte it holds.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The Redis key, or the row's or document's `id`.
    pub(crate) key: String,
    /// Every field, value or column of it, one after the other.
    pub(crate) bytes: Vec<u8>,
}

/// Whether `needle` occurs in `haystack`.
pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

async fn command(
    client: &fred::clients::Client,
    name: &'static str,
    args: Vec<Value>,
) -> Result<Value, fred::error::Error> {
    let command = CustomCommand::new_static(name, ClusterHash::FirstKey, false);
    client.custom::<Value, Value>(command, args).await
}

async fn connect_redis(url: &str) -> Result<fred::clients::Client, String> {
    let config = Config::from_url(url).map_err(|e| e.to_string())?;
    let client = Builder::from_config(config)
        .build()
        .map_err(|e| e.to_string())?;
    client.init().await.map_err(|e| e.to_string())?;
    Ok(client)
}

/// The keys under `prefix`, by `SCAN` (never `KEYS`: the Redis is shared).
async fn scan(
    client: &fred::clients::Client,
    prefix: &str,
) -> Result<Vec<String>, fred::error::Error> {
    let mut keys = Vec::new();
    let mut cursor = "0".to_owned();
    loop {
        let args = vec![
            cursor.as_str().into(),
            "MATCH".into(),
            format!("{prefix}*").into(),
            "COUNT".into(),
            500.into(),
        ];
        let mut page = command(client, "SCAN", args)
            .await?
            .into_array()
            .into_iter();
        cursor = page.next().and_then(|v| v.as_string()).unwrap_or_default();
        let found = page.next().map(Value::into_array).unwrap_or_default();
        keys.extend(found.iter().filter_map(Value::as_string));
        if cursor == "0" || cursor.is_empty() {
            return Ok(keys);
        }
    }
}

/// Every key under `prefix` in the Redis at `url`, with the bytes of its
/// value (all fields and values of a hash, all members of a set).
pub(crate) async fn redis_dump(url: &str, prefix: &str) -> Result<Vec<Entry>, String> {
    let client = connect_redis(url).await?;
    let dumped = redis_entries(&client, prefix).await;
    let _ = client.quit().await;
    dumped.map_err(|e| e.to_string())
}

async fn redis_entries(
    client: &fred::clients::Client,
    prefix: &str,
) -> Result<Vec<Entry>, fred::error::Error> {
    let mut entries = Vec::new();
    for key in scan(client, prefix).await? {
        let kind = command(client, "TYPE", vec![key.as_str().into()]).await?;
        let read = match kind.as_string().as_deref() {
            Some("hash") => "HGETALL",
            Some("set") => "SMEMBERS",
            Some("string") => "GET",
            other => panic!("unexpected Redis type {other:?} at {key}"),
        };
        let value = command(client, read, vec![key.as_str().into()]).await?;
        let mut bytes = Vec::new();
        for part in value.into_array() {
            bytes.extend_from_slice(part.as_bytes().unwrap_or_default());
            bytes.push(0);
        }
        entries.push(Entry { key, bytes });
    }
    Ok(entries)
}

/// Unlinks every key under `prefix` in the Redis at `url`.
pub(crate) async fn unlink_prefix(url: &str, prefix: &str) -> Result<(), String> {
    let client = connect_redis(url).await?;
    let mut removed = Ok(());
    match scan(&client, prefix).await {
        Ok(keys) => {
            for key in keys {
                if let Err(error) = command(&client, "UNLINK", vec![key.into()]).await {
                    removed = Err(error.to_string());
                }
            }
        }
        Err(error) => removed = Err(error.to_string()),
    }
    let _ = client.quit().await;
    removed
}

type Row = (String, Vec<u8>, Option<String>);

/// Every row of `table` in the database at `url` (PostgreSQL, MySQL or
/// SQLite): its id, data and owner.
pub(crate) async fn sql_dump(url: &str, table: &str) -> Result<Vec<Entry>, String> {
    let rows = sql_rows(url, table).await.map_err(|e| e.to_string())?;
    Ok(rows
        .into_iter()
        .map(|(id, data, owner)| {
            let mut bytes = data;
            bytes.push(0);
            bytes.extend_from_slice(owner.unwrap_or_default().as_bytes());
            Entry { key: id, bytes }
        })
        .collect())
}

async fn sql_rows(url: &str, table: &str) -> Result<Vec<Row>, sqlx::Error> {
    let select = |quote: char| format!("SELECT id, data, owner FROM {quote}{table}{quote}");
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let sql = AssertSqlSafe(select('"'));
        sqlx::query_as::<_, Row>(sql).fetch_all(&mut conn).await
    } else if url.starts_with("mysql") || url.starts_with("mariadb") {
        let mut conn = sqlx::MySqlConnection::connect(url).await?;
        let sql = AssertSqlSafe(select('`'));
        sqlx::query_as::<_, Row>(sql).fetch_all(&mut conn).await
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        let sql = AssertSqlSafe(select('"'));
        sqlx::query_as::<_, Row>(sql).fetch_all(&mut conn).await
    }
}

/// Drops `table` (if it exists) in the PostgreSQL or MySQL at `url`.
pub(crate) async fn drop_table(url: &str, table: &str) -> Result<(), String> {
    let dropped = if url.starts_with("postgres") {
        drop_postgres(url, table).await
    } else {
        drop_mysql(url, table).await
    };
    dropped.map_err(|e| e.to_string())
}

async fn drop_postgres(url: &str, table: &str) -> Result<(), sqlx::Error> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let sql = AssertSqlSafe(format!("DROP TABLE IF EXISTS \"{table}\""));
    sqlx::raw_sql(sql).execute(&mut conn).await?;
    conn.close().await
}

async fn drop_mysql(url: &str, table: &str) -> Result<(), sqlx::Error> {
    let mut conn = sqlx::MySqlConnection::connect(url).await?;
    let sql = AssertSqlSafe(format!("DROP TABLE IF EXISTS `{table}`"));
    sqlx::raw_sql(sql).execute(&mut conn).await?;
    conn.close().await
}

/// The collection `collection` of the URL's database (or `sessions`) in the
/// MongoDB at `url`, through the driver the store re-exports.
async fn mongodb_collection(
    url: &str,
    collection: &str,
) -> Result<mongodb::Collection<mongodb::bson::Document>, mongodb::error::Error> {
    let client = mongodb::Client::with_uri_str(url).await?;
    let database = client
        .default_database()
        .unwrap_or_else(|| client.database(session_store_mongo::DEFAULT_DATABASE));
    Ok(database.collection(collection))
}

/// Every document of `collection` in the MongoDB at `url`: its `_id` and
/// its whole BSON encoding, every field name and value.
pub(crate) async fn mongodb_dump(url: &str, collection: &str) -> Result<Vec<Entry>, String> {
    let read = async {
        let documents = mongodb_collection(url, collection).await?;
        let mut cursor = documents.find(mongodb::bson::doc! {}).await?;
        let mut entries = Vec::new();
        while cursor.advance().await? {
            let raw = cursor.current();
            let key = raw.get_str("_id").unwrap_or_default().to_owned();
            entries.push(Entry {
                key,
                bytes: raw.as_bytes().to_vec(),
            });
        }
        Ok::<_, mongodb::error::Error>(entries)
    };
    read.await.map_err(|e| e.to_string())
}

/// Drops `collection` in the MongoDB at `url`.
pub(crate) async fn drop_collection(url: &str, collection: &str) -> Result<(), String> {
    let dropped = async { mongodb_collection(url, collection).await?.drop().await };
    dropped.await.map_err(|e| e.to_string())
}
