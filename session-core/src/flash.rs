//! Flash messages: set now, shown once on a later request.

use serde::{Deserialize, Serialize};

/// How many flash messages a session keeps for later requests: when more
/// are pending (set and not yet read), the oldest are dropped and the newest
/// 32 kept. This bounds what flash messages add to a session (a form that
/// flashes on every post, never read), so that they alone cannot push it
/// past [`max_session_bytes`](crate::SessionConfigBuilder::max_session_bytes)
/// unless single messages are huge.
pub const MAX_FLASH_MESSAGES: usize = 32;

/// Keeps the newest [`MAX_FLASH_MESSAGES`] of `messages` (oldest first).
fn keep_newest(mut messages: Vec<FlashMessage>) -> Vec<FlashMessage> {
    let excess = messages.len().saturating_sub(MAX_FLASH_MESSAGES);
    messages.drain(..excess);
    messages
}

/// One flash message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlashMessage {
    /// A free-form level such as `info`, `success` or `error`.
    pub level: String,
    /// The text to show.
    pub text: String,
}

impl FlashMessage {
    /// A message at level `info`.
    pub fn info(text: impl Into<String>) -> Self {
        FlashMessage {
            level: "info".into(),
            text: text.into(),
        }
    }
}

/// The flash state of one request.
///
/// `pending` came from earlier requests and has not been read yet; reading
/// moves it to `read`; `new` was set during this request. What is saved for
/// the next request is `pending` (unread messages are not lost), plus `read`
/// if the handler asked to keep it, plus `new`, of which the newest
/// [`MAX_FLASH_MESSAGES`] are kept.
#[derive(Debug, Clone, Default)]
pub(crate) struct FlashState {
    pub(crate) pending: Vec<FlashMessage>,
    pub(crate) read: Vec<FlashMessage>,
    pub(crate) new: Vec<FlashMessage>,
    pub(crate) keep: bool,
}

impl FlashState {
    /// The state of a loaded session (capped: a record written by another
    /// version may hold more).
    pub(crate) fn loaded(pending: Vec<FlashMessage>) -> Self {
        FlashState {
            pending: keep_newest(pending),
            ..Default::default()
        }
    }

    /// Whether there is no message at all (pending, read or new).
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.read.is_empty() && self.new.is_empty()
    }

    /// Takes the pending messages. Answers whether anything changed.
    pub(crate) fn take(&mut self) -> (Vec<FlashMessage>, bool) {
        let taken = std::mem::take(&mut self.pending);
        let changed = !taken.is_empty();
        self.read.extend(taken.iter().cloned());
        (taken, changed)
    }

    /// The messages to save for later requests, oldest first: the newest
    /// [`MAX_FLASH_MESSAGES`] of them.
    pub(crate) fn to_save(&self) -> Vec<FlashMessage> {
        let mut out = self.pending.clone();
        if self.keep {
            out.extend(self.read.iter().cloned());
        }
        out.extend(self.new.iter().cloned());
        keep_newest(out)
    }
}
