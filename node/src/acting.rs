//! Who is acting: the official whose account made the admin call being
//! served. The admin API's guard runs each call of an account inside
//! [`as_official`]; the store writes an audit entry whose actor is
//! `Operator` with that account instead ([`official`]), so every entry a
//! call causes names the official, whichever service writes it. Work a
//! call hands to another task (a background loop, `spawn_blocking`) is the
//! node's own and keeps the actor it gives, except a write the call waits
//! for on another thread (the store's grouped writes), run [`within`] the
//! caller's account.

use std::future::Future;
use veim_protocol::audit::{AccountName, Actor};

tokio::task_local! {
    static ACTING: AccountName;
}

/// Runs `f` as the official of `account`.
pub async fn as_official<F: Future>(account: AccountName, f: F) -> F::Output {
    ACTING.scope(account, f).await
}

/// The account acting in the current task, if any.
pub fn acting() -> Option<AccountName> {
    ACTING.try_with(|a| *a).ok()
}

/// Runs `f`, synchronous work a call waits for on another thread, as the
/// official `account` (from [`acting`] in the call's task), if any.
pub fn within<R>(account: Option<AccountName>, f: impl FnOnce() -> R) -> R {
    match account {
        Some(account) => ACTING.sync_scope(account, f),
        None => f(),
    }
}

/// `actor`, with `Operator` replaced by the official acting, if any.
pub fn official(actor: Actor) -> Actor {
    match (actor, acting()) {
        (Actor::Operator, Some(account)) => Actor::Official(account),
        (actor, _) => actor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_operator_is_the_official_acting_and_no_one_else_is_changed() {
        let maria = AccountName::parse("maria").expect("a name");
        assert_eq!(official(Actor::Operator), Actor::Operator, "outside a call");
        as_official(maria, async {
            assert_eq!(official(Actor::Operator), Actor::Official(maria));
            assert_eq!(official(Actor::Node), Actor::Node);
            assert_eq!(official(Actor::Peer(None)), Actor::Peer(None));
            // Work handed to a blocking thread is the node's, unless run
            // within the caller's account.
            let caller = acting();
            let (alone, within_caller) = tokio::task::spawn_blocking(move || {
                (official(Actor::Operator), within(caller, || official(Actor::Operator)))
            })
            .await
            .expect("blocking task");
            assert_eq!((alone, within_caller), (Actor::Operator, Actor::Official(maria)));
        })
        .await;
    }
}
