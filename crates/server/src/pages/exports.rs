//! `/exports` (the list) and `/exports/{id}` (one export in full), as pages. Both poll while
//! anything is pending or processing: the script asks for the same page with `X-Fragment` and
//! swaps in only the cards that changed.

use super::cards::{Names, actions, card, dialogs, progress_line, version};
use super::layout::{Nav, maybe_time, page, size, time};
use super::{error_page, html_response, signed_in};
use crate::state::Shared;
use aao_export_core::api::{Download, DownloadVia, ExportStatusObject};
use aao_export_core::query::describe;
use aao_export_service::exports::{Links, manages};
use aao_export_service::{Caller, ServiceResult};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};

/// Asked by the script: only the part of the page that polling refreshes.
fn fragment(headers: &HeaderMap) -> bool {
    headers.get("x-fragment").is_some()
}

async fn names(state: &Shared) -> ServiceResult<Names> {
    Ok(state.service.users().await?.into_iter().map(|u| (u.id, u.full_name)).collect())
}

fn in_flight(exports: &[ExportStatusObject]) -> bool {
    exports.iter().any(|e| e.status.in_flight())
}

/// `GET /exports` for a browser.
pub async fn list(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let caller = match signed_in(&state, &headers, "/exports").await {
        Ok(caller) => caller,
        Err(redirect) => return redirect,
    };
    let (exports, names) = match (state.service.list(&caller, None, Links::Omitted).await, names(&state).await) {
        (Ok(exports), Ok(names)) => (exports, names),
        (Err(e), _) | (_, Err(e)) => return error_page(Some(&caller), &e),
    };
    let list = cards_list(&exports, &caller, &names);
    if fragment(&headers) {
        return html_response(StatusCode::OK, list);
    }
    let days = state.service.settings.expiration_days;
    let body = html! {
        div.toolbar {
            h1 { "Exports" }
            a.button.push-right href="/exports/new" { "New export" }
        }
        p.notice { "Completed exports are deleted " (days) " days after they complete. Download what you need before then." }
        (list)
        (dialogs())
    };
    html_response(StatusCode::OK, page("Exports", Some(&caller), Nav::Exports, &["app.js"], body))
}

/// The cards, newest first, or what to do when there are none.
fn cards_list(exports: &[ExportStatusObject], caller: &Caller, names: &Names) -> Markup {
    html! {
        section #export-list aria-label="Your exports" data-polling=[in_flight(exports).then_some("on")] {
            @if exports.is_empty() {
                div.empty {
                    p { "No exports yet: none you created, and none shared with you." }
                    p { a href="/exports/new" { "Start a new export" } }
                }
            } @else {
                div.cards { @for e in exports { (card(e, caller, names)) } }
            }
        }
    }
}

/// `GET /exports/{id}` for a browser.
pub async fn detail(State(state): State<Shared>, headers: HeaderMap, Path(raw): Path<String>) -> Response {
    let back = format!("/exports/{raw}");
    let caller = match signed_in(&state, &headers, &back).await {
        Ok(caller) => caller,
        Err(redirect) => return redirect,
    };
    let Ok(id) = uuid::Uuid::try_parse(&raw) else {
        return error_page(Some(&caller), &aao_export_service::ServiceError::not_found(format!("no export {raw:?}")));
    };
    let loaded = async {
        let export = state.service.read(&caller, id, Links::Omitted).await?;
        // Who downloaded is for its creator and admins (the API's rule); others get no section.
        let downloads = if manages(&caller, &export.creator_id) && !fragment(&headers) {
            Some(state.service.downloads(&caller, id).await?)
        } else {
            None
        };
        let fields = state.service.fields().await?;
        Ok::<_, aao_export_service::ServiceError>((export, downloads, fields, names(&state).await?))
    };
    let (export, downloads, fields, names) = match loaded.await {
        Ok(loaded) => loaded,
        Err(e) => return error_page(Some(&caller), &e),
    };
    let section = detail_section(&export, &caller, &names);
    if fragment(&headers) {
        return html_response(StatusCode::OK, section);
    }
    let query_json = serde_json::to_string_pretty(&export.export_parameters.query).unwrap_or_default();
    let body = html! {
        p { a href="/exports" { "← All exports" } }
        (section)
        h2 { "Query" }
        p { (describe(&export.export_parameters.query)) }
        details {
            summary { "As JSON" }
            pre.json { code { (query_json) } }
        }
        h2 { "Fields" }
        ol {
            @for path in &export.export_parameters.fields {
                @let field = fields.iter().find(|f| &f.path == path);
                li { @if let Some(f) = field { (f.name) " " } code { (path) } }
            }
        }
        @if let Some(downloads) = &downloads { (downloads_section(downloads)) }
        p { a.button.secondary href={ "/exports/new?from=" (export.export_id) } { "Copy as new export" } }
        (dialogs())
    };
    let title = format!("Export {}", export.export_id);
    html_response(StatusCode::OK, page(&title, Some(&caller), Nav::None, &["app.js"], body))
}

/// Who downloaded the export, newest first (for its creator and admins).
fn downloads_section(downloads: &[Download]) -> Markup {
    html! {
        section #downloads aria-labelledby="downloads-title" {
            h2 #downloads-title { "Downloads" }
            @if downloads.is_empty() {
                p.hint { "Not downloaded yet." }
            } @else {
                table.downloads {
                    caption.sr-only { "Who downloaded this export, newest first" }
                    thead { tr { th scope="col" { "Who" } th scope="col" { "When" } th scope="col" { "How" } } }
                    tbody {
                        @for d in downloads {
                            tr {
                                td { (d.full_name.as_deref().unwrap_or(&d.user_id)) }
                                td { (time(&d.downloaded_at)) }
                                td { (match d.via { DownloadVia::Link => "download link", DownloadVia::Api => "API (status with a URL)" }) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The part of the detail page that changes while the export runs.
fn detail_section(e: &ExportStatusObject, caller: &Caller, names: &Names) -> Markup {
    let id = e.export_id.to_string();
    let shared = serde_json::to_string(&e.shared_with).unwrap_or_else(|_| "[]".into());
    let creator = names.get(&e.creator_id).map_or(e.creator_id.as_str(), String::as_str);
    html! {
        section #export-list data-polling=[e.status.in_flight().then_some("on")] {
            article.export id={ "export-" (id) } data-id=(id) data-status=(e.status.as_str()) data-version=(version(e))
                data-shared=(shared) data-creator=(e.creator_id) aria-labelledby="detail-title" {
                h1 #detail-title { (describe(&e.export_parameters.query)) }
                (progress_line(e, caller))
                dl.facts {
                    dt { "Export id" } dd { code { (id) } }
                    dt { "Created by" } dd { (creator) }
                    dt { "Images included" } dd { @if e.export_parameters.include_images { "yes" } @else { "no" } }
                    dt { "Created" } dd { (time(&e.created_at)) }
                    dt { "Updated" } dd { (time(&e.updated_at)) }
                    dt { "Started" } dd { (maybe_time(e.started_at.as_deref())) }
                    dt { "Completed" } dd { (maybe_time(e.completed_at.as_deref())) }
                    dt { "Expires" } dd { (maybe_time(e.expires_at.as_deref())) }
                    dt { "Attempt" } dd { (e.attempt) }
                    dt { "Message" } dd { (e.message.as_deref().unwrap_or("—")) }
                    dt { "Size" } dd { (e.size_bytes.map_or("—".to_string(), size)) }
                    dt { "Ads" } dd { (e.ad_count.map_or("—".to_string(), |n| n.to_string())) }
                    dt { "Images" } dd { (e.image_count.map_or("—".to_string(), |n| n.to_string())) }
                    dt { "Shared with" } dd {
                        @if e.shared_with.is_empty() { "nobody" }
                        @else { @for (i, user) in e.shared_with.iter().enumerate() {
                            @if i > 0 { ", " } (names.get(user).map_or(user.as_str(), String::as_str))
                        } }
                    }
                }
                (actions(e, caller))
            }
        }
    }
}
