//! Who is signed in. The access token lives in memory only; a reload gets a new one through the
//! refresh cookie. When the session can no longer be renewed, the user is sent to the log-in
//! page with a notice saying why.

use std::future::Future;

use leptos::prelude::*;
use protocol::api;

use crate::api::{self as rest, ApiError};

#[derive(Clone, Copy)]
pub struct Auth {
    pub session: RwSignal<Option<api::Session>>,
    /// False until the first refresh attempt after page load has answered.
    pub checked: RwSignal<bool>,
    /// A message for the log-in page (session expired, account disabled, …).
    pub notice: RwSignal<Option<String>>,
}

impl Auth {
    pub fn new() -> Self {
        Self { session: RwSignal::new(None), checked: RwSignal::new(false), notice: RwSignal::new(None) }
    }

    pub fn user(&self) -> Option<api::User> {
        self.session.with(|s| s.as_ref().map(|s| s.user.clone()))
    }

    pub fn is_admin(&self) -> bool {
        self.session.with(|s| s.as_ref().is_some_and(|s| s.user.role == api::Role::Admin))
    }

    /// Restores the session after a page load, if the refresh cookie is still good.
    pub async fn restore(self) {
        if let Ok(s) = rest::refresh().await {
            self.session.set(Some(s));
        }
        self.checked.set(true);
    }

    pub fn signed_in(&self, s: api::Session) {
        self.notice.set(None);
        self.session.set(Some(s));
    }

    pub fn end(&self, notice: Option<String>) {
        self.notice.set(notice);
        self.session.set(None);
    }

    pub fn update_user(&self, user: api::User) {
        self.session.update(|s| {
            if let Some(s) = s {
                s.user = user;
            }
        });
    }

    /// Asks the server who we are again (an account may be put under review, or cleared, at any
    /// time); the session's user follows.
    pub async fn reload_user(self) {
        if let Ok(user) = self.call(rest::me).await
            && self.session.with_untracked(|s| s.as_ref().is_some_and(|s| s.user != user))
        {
            self.update_user(user);
        }
    }

    /// The signed-in user's card payments are on hold after a dispute.
    pub fn under_review(&self) -> bool {
        self.session.with(|s| s.as_ref().is_some_and(|s| s.user.under_review))
    }

    /// Runs an authenticated call; on an expired access token it refreshes once and retries.
    /// When the session is gone (revoked, disabled), it ends it with the reason.
    pub async fn call<T, F, Fut>(self, f: F) -> Result<T, ApiError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let token = self.session.with_untracked(|s| s.as_ref().map(|s| s.access_token.clone()));
        let Some(token) = token else {
            self.end(Some("Please sign in.".into()));
            return Err(signed_out());
        };
        let result = match f(token).await {
            Err(e) if e.code == protocol::api::codes::TOKEN_EXPIRED => match rest::refresh().await {
                Ok(s) => {
                    let token = s.access_token.clone();
                    self.session.set(Some(s));
                    f(token).await
                }
                Err(e) => Err(e),
            },
            other => other,
        };
        match &result {
            Err(e) if e.code == protocol::api::codes::ACCOUNT_DISABLED => self.end(Some(e.message.clone())),
            Err(e) if e.status == 401 => self.end(Some("Your session has expired. Please sign in again.".into())),
            _ => {}
        }
        result
    }
}

fn signed_out() -> ApiError {
    ApiError {
        status: 401,
        code: "unauthenticated".into(),
        message: "Please sign in.".into(),
        fields: Default::default(),
    }
}
