//! `/admin/users`: for administrators, everyone who can sign in (or is waiting to), with their
//! sign-in identities, role, state and last sign-in, and a button to enable or disable each. The
//! buttons are plain form posts (no JavaScript needed), checked for this site's origin like every
//! change the session cookie makes. Those waiting to be enabled come first.

use super::layout::{Nav, maybe_time, page};
use super::{error_page, html_response, signed_in};
use crate::state::Shared;
use aao_export_core::time::rfc3339;
use aao_export_service::{Caller, RefusalKind, ServiceError, UserOverview, users};
use axum::Form;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

const PATH: &str = "/admin/users";

#[derive(serde::Deserialize, Default)]
pub struct Shown {
    /// The user just changed, to say so.
    changed: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct Change {
    #[serde(default)]
    user_id: String,
    /// `enable` or `disable`.
    #[serde(default)]
    action: String,
}

/// `GET /admin/users`.
pub async fn list(
    State(state): State<Shared>,
    headers: HeaderMap,
    shown: Result<Query<Shown>, QueryRejection>,
) -> Response {
    let caller = match signed_in(&state, &headers, PATH).await {
        Ok(caller) => caller,
        Err(redirect) => return redirect,
    };
    let changed = shown.ok().and_then(|Query(shown)| shown.changed);
    render(&state, &caller, StatusCode::OK, changed.as_deref(), None).await
}

/// `POST /admin/users` (`user_id`, `action`): enables or disables one user, then shows the list
/// again saying so; a refusal is shown next to that user.
pub async fn change(State(state): State<Shared>, headers: HeaderMap, Form(change): Form<Change>) -> Response {
    let caller = match signed_in(&state, &headers, PATH).await {
        Ok(caller) => caller,
        Err(redirect) => return redirect,
    };
    if let Err(e) = crate::sessions::check_origin(&state, &headers, true) {
        tracing::warn!(refusal = %e, "a change to a user from another site was refused");
        let message = "This change did not come from this site's own page, so nothing was changed.".to_string();
        return render(&state, &caller, StatusCode::FORBIDDEN, None, Some((&change.user_id, &message))).await;
    }
    let enabled = match change.action.as_str() {
        "enable" => true,
        "disable" => false,
        other => {
            let message = format!("{other:?} is not something a user can be changed by: enable or disable");
            return render(&state, &caller, StatusCode::BAD_REQUEST, None, Some((&change.user_id, &message))).await;
        }
    };
    match users::set_enabled_by(state.service.users.as_ref(), &caller, &change.user_id, enabled).await {
        Ok(()) => Redirect::to(&format!("{PATH}?changed={}", super::encode(&change.user_id))).into_response(),
        // Not an administrator: the list is not theirs to see either.
        Err(ServiceError::Refused(r)) if r.kind() == RefusalKind::Forbidden => {
            error_page(Some(&caller), &ServiceError::Refused(r))
        }
        Err(ServiceError::Refused(r)) => {
            let status = crate::error::status_of(r.kind());
            render(&state, &caller, status, None, Some((&change.user_id, &r.message))).await
        }
        Err(other) => error_page(Some(&caller), &other),
    }
}

/// The page; `changed` names the user just changed, `problem` a user and what went wrong.
async fn render(
    state: &Shared,
    caller: &Caller,
    status: StatusCode,
    changed: Option<&str>,
    problem: Option<(&str, &str)>,
) -> Response {
    let mut everyone = match users::overview(state.service.users.as_ref(), caller).await {
        Ok(everyone) => everyone,
        Err(e) => return error_page(Some(caller), &e),
    };
    everyone.sort_by(|a, b| {
        (a.user.enabled, a.user.full_name.to_lowercase(), &a.user.id).cmp(&(
            b.user.enabled,
            b.user.full_name.to_lowercase(),
            &b.user.id,
        ))
    });
    let waiting = everyone.iter().filter(|u| !u.user.enabled).count();
    let changed = changed.and_then(|id| everyone.iter().find(|u| u.user.id == id));
    let unmatched_problem = problem.filter(|(id, _)| !everyone.iter().any(|u| u.user.id == *id));
    let body = html! {
        h1 { "Users" }
        p.notice {
            (everyone.len()) " users, " (waiting) " of them not enabled (listed first). "
            "People who sign in through the identity provider for the first time are not enabled until an administrator enables them here."
        }
        @if let Some(u) = changed {
            p.success-box #users-changed role="status" {
                (display_name(u)) @if u.user.enabled { " is enabled and can sign in." } @else { " is disabled and signed out everywhere." }
            }
        }
        @if let Some((_, message)) = unmatched_problem {
            p.error-box #users-error role="alert" { (message) }
        }
        div.table-wrap {
            table.users {
                caption.sr-only { "Users, those waiting to be enabled first" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Signs in with" } th scope="col" { "Role" }
                    th scope="col" { "State" } th scope="col" { "Last sign-in" } th scope="col" { span.sr-only { "Action" } } } }
                tbody {
                    @for u in &everyone {
                        (row(u, caller, problem.filter(|(id, _)| *id == u.user.id).map(|(_, m)| m)))
                    }
                }
            }
        }
    };
    html_response(status, page("Users", Some(caller), Nav::Users, &["app.js"], body))
}

fn display_name(u: &UserOverview) -> &str {
    if u.user.full_name.is_empty() { &u.user.id } else { &u.user.full_name }
}

fn row(u: &UserOverview, caller: &Caller, problem: Option<&str>) -> Markup {
    let user = &u.user;
    let error_id = format!("problem-{}", super::encode(&user.id));
    html! {
        tr data-user=(user.id) {
            th scope="row" {
                span.name { (display_name(u)) }
                @if let Some(email) = &user.primary_email { br; span.email { (email) } }
            }
            td data-label="Signs in with" {
                @if u.identities.is_empty() { span.identity { "API key only" } }
                @for (provider, id) in &u.identities { span.identity { (provider) ": " (id) } " " }
            }
            td data-label="Role" { (user.role) }
            td data-label="State" { @if user.enabled { span.state-on { "Enabled" } } @else { span.state-off { "Not enabled" } } }
            td data-label="Last sign-in" { (maybe_time(u.last_sign_in.map(rfc3339).as_deref())) }
            td.action {
                @if user.id == caller.id {
                    span.hint { "(you)" }
                } @else {
                    form method="post" action=(PATH) {
                        input type="hidden" name="user_id" value=(user.id);
                        @if user.enabled {
                            button.secondary type="submit" name="action" value="disable"
                                aria-describedby=[problem.map(|_| error_id.as_str())] { "Disable" span.sr-only { " " (display_name(u)) } }
                        } @else {
                            button type="submit" name="action" value="enable"
                                aria-describedby=[problem.map(|_| error_id.as_str())] { "Enable" span.sr-only { " " (display_name(u)) } }
                        }
                    }
                }
                @if let Some(message) = problem { p.error id=(error_id) role="alert" { (message) } }
            }
        }
    }
}
