//! One owner's sessions in the owner index: a short list while the owner
//! has few (almost everyone: a person has a session per browser), a hash
//! set once they have many.
//!
//! A hash set of one id takes a 200-byte table; the list takes the id.
//! With one owner per signed-in session, that is most of what the owner
//! index costs.

use std::collections::HashSet;

use session_core::SessionId;

/// Above this many sessions an owner's list becomes a set, so that adding
/// and removing stay O(1) for an owner with thousands of sessions.
const LIST_MAX: usize = 16;

/// The ids of one owner's sessions, each once.
#[derive(Debug)]
pub(crate) enum OwnerSessions {
    /// At most [`LIST_MAX`] ids, searched in order.
    Few(Vec<SessionId>),
    /// More.
    Many(HashSet<SessionId>),
}

impl Default for OwnerSessions {
    fn default() -> Self {
        OwnerSessions::Few(Vec::new())
    }
}

impl OwnerSessions {
    /// Adds `id` unless it is there already.
    pub(crate) fn insert(&mut self, id: &SessionId) {
        match self {
            OwnerSessions::Few(ids) if ids.contains(id) => {}
            OwnerSessions::Few(ids) if ids.len() < LIST_MAX => {
                // Exactly one more: most owners stay at one or two.
                ids.reserve_exact(1);
                ids.push(id.clone());
            }
            OwnerSessions::Few(ids) => {
                let mut set: HashSet<SessionId> = ids.drain(..).collect();
                set.insert(id.clone());
                *self = OwnerSessions::Many(set);
            }
            OwnerSessions::Many(set) => {
                set.insert(id.clone());
            }
        }
    }

    /// Removes `id` if it is there.
    pub(crate) fn remove(&mut self, id: &SessionId) {
        match self {
            OwnerSessions::Few(ids) => {
                if let Some(at) = ids.iter().position(|held| held == id) {
                    ids.swap_remove(at);
                    ids.shrink_to_fit();
                }
            }
            OwnerSessions::Many(set) => {
                set.remove(id);
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        match self {
            OwnerSessions::Few(ids) => ids.is_empty(),
            OwnerSessions::Many(set) => set.is_empty(),
        }
    }

    /// The ids, in no particular order.
    pub(crate) fn to_vec(&self) -> Vec<SessionId> {
        match self {
            OwnerSessions::Few(ids) => ids.clone(),
            OwnerSessions::Many(set) => set.iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Whatever the mix of adds and removes, across the switch from list to
    /// set, the ids are those of a set given the same operations.
    #[test]
    fn behaves_as_a_set_on_both_sides_of_the_switch() {
        let ids: Vec<SessionId> = (0..3 * LIST_MAX).map(|_| SessionId::random()).collect();
        let mut sessions = OwnerSessions::default();
        let mut model = BTreeSet::new();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..5_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let id = &ids[(state % ids.len() as u64) as usize];
            if state >> 62 < 2 {
                sessions.insert(id);
                model.insert(id.clone());
            } else {
                sessions.remove(id);
                model.remove(id);
            }
            let held: BTreeSet<SessionId> = sessions.to_vec().into_iter().collect();
            assert_eq!(held.len(), sessions.to_vec().len(), "each id once");
            assert_eq!(held, model);
            assert_eq!(sessions.is_empty(), model.is_empty());
        }
    }

    #[test]
    fn a_few_sessions_stay_a_list() {
        let mut sessions = OwnerSessions::default();
        for _ in 0..LIST_MAX {
            sessions.insert(&SessionId::random());
        }
        assert!(matches!(sessions, OwnerSessions::Few(_)));
        sessions.insert(&SessionId::random());
        assert!(matches!(sessions, OwnerSessions::Many(_)));
    }
}
