//! Flash messages: set now, shown once on a later request.

use serde::{Deserialize, Serialize};

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
/// if the handler asked to keep it, plus `new`.
#[derive(Debug, Clone, Default)]
pub(crate) struct FlashState {
    pub(crate) pending: Vec<FlashMessage>,
    pub(crate) read: Vec<FlashMessage>,
    pub(crate) new: Vec<FlashMessage>,
    pub(crate) keep: bool,
}

impl FlashState {
    pub(crate) fn loaded(pending: Vec<FlashMessage>) -> Self {
        FlashState {
            pending,
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

    /// The messages to save for later requests.
    pub(crate) fn to_save(&self) -> Vec<FlashMessage> {
        let mut out = self.pending.clone();
        if self.keep {
            out.extend(self.read.iter().cloned());
        }
        out.extend(self.new.iter().cloned());
        out
    }
}
