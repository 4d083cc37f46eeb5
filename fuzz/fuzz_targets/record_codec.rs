//! Arbitrary bytes as stored session data, for every codec (MessagePack,
//! the default, bincode and JSON; every input is tried with each).
//!
//! - `Codec::decode` into a representative session type (strings, options,
//!   vectors, a nested struct, an enum, maps, a char) never panics, and what
//!   decodes encodes and decodes again to the same value.
//! - Through the real load path: a `MemoryStore` holds a `Record` with these
//!   bytes under the id of a real token, and a `SessionManager` loads that
//!   token. Stored records are the tagged envelope (or the previous
//!   release's untagged bincode envelope), so the manager is the oracle of
//!   what decodes: a record it does not adopt gives a fresh session (new id,
//!   default data); one it adopts keeps the id, and committing it and
//!   loading it again gives the same data once more.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use session_core::time::{Duration, OffsetDateTime};
use session_core::{store::Record, Codec, SessionConfig, SessionId, SessionManager};
use session_crypto::token::random_token;
use session_store_memory::MemoryStore;
use typed_sessions_fuzz::Profile;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    managers: Vec<(Codec, SessionManager<Profile>)>,
    token: String,
    id: SessionId,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let managers = [Codec::MessagePack, Codec::Bincode, Codec::Json]
            .into_iter()
            .map(|codec| {
                let config = SessionConfig::builder()
                    .store(MemoryStore::builder().no_cleanup().build())
                    .secret("fuzzing secret, thirty-two bytes or more")
                    .codec(codec)
                    .build()
                    .expect("a valid configuration");
                (codec, SessionManager::new(config))
            })
            .collect();
        let token = random_token();
        let id = SessionId::from_token(&token);
        Fixture {
            runtime,
            managers,
            token,
            id,
        }
    })
}

fn record(id: &SessionId, data: &[u8]) -> Record {
    let now = OffsetDateTime::now_utc();
    Record::new(
        id.clone(),
        data.to_vec(),
        now,
        now + Duration::hours(1),
        now + Duration::days(1),
    )
    .with_version(1)
}

fuzz_target!(|input: &[u8]| {
    let fx = fixture();
    for (codec, manager) in &fx.managers {
        // The codec on its own.
        if let Ok(value) = codec.decode::<Profile>(input) {
            let bytes = codec.encode(&value).expect("a decoded value encodes");
            let again: Profile = codec.decode(&bytes).expect("an encoded value decodes");
            assert_eq!(again, value, "{codec:?} round trip");
        }

        // The load path.
        fx.runtime.block_on(async {
            let store = manager.store();
            // Replaced, not saved over: the previous input may have left no
            // record (a store refuses to save one that is not there).
            store
                .delete(&fx.id)
                .await
                .expect("the memory store deletes");
            store
                .create(&record(&fx.id, input))
                .await
                .expect("the memory store creates");
            let session = manager
                .load(Some(&fx.token))
                .await
                .expect("the memory store loads");
            let adopted = (!session.is_new()).then(|| session.data().clone());
            match adopted {
                None => {
                    assert!(
                        session.is_new(),
                        "{codec:?}: an undecodable record was adopted"
                    );
                    assert_ne!(
                        session.id(),
                        fx.id,
                        "{codec:?}: a fresh session kept the id"
                    );
                    assert_eq!(*session.data(), Profile::default());
                }
                Some(data) => {
                    assert_eq!(session.id(), fx.id);
                    // Rewritten by the manager and read back: the same data.
                    session.data_mut().verified ^= true;
                    session.data_mut().verified ^= true;
                    manager.commit(&session).await.expect("the commit succeeds");
                    let reloaded = manager
                        .load(Some(&fx.token))
                        .await
                        .expect("the memory store loads");
                    assert!(!reloaded.is_new());
                    assert_eq!(*reloaded.data(), data, "{codec:?}: rewritten data");
                }
            }
        });
    }
});
