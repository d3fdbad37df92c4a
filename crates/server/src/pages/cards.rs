//! An export as a card (the list and the detail page), and the dialogs its actions open. One
//! renderer: the page's script refreshes cards by fetching them again, never by building HTML.

use super::layout::{maybe_time, size, status, time};
use aao_export_core::api::ExportStatusObject;
use aao_export_core::export::ExportStatus;
use aao_export_core::query::describe;
use aao_export_service::Caller;
use aao_export_service::exports::manages;
use maud::{Markup, html};
use std::collections::HashMap;

/// Display names by user id (for "created by" and the access badges).
pub type Names = HashMap<String, String>;

fn name<'a>(names: &'a Names, id: &'a str) -> &'a str {
    names.get(id).map_or(id, String::as_str)
}

/// A fingerprint of what a card shows, so the script replaces only cards that changed.
pub fn version(e: &ExportStatusObject) -> String {
    format!("{}|{}|{}|{:?}|{}", e.status, e.updated_at, e.progress.processed, e.progress.total, e.shared_with.join(","))
}

/// The stable download link: it answers with a fresh URL when followed, so a page never signs
/// one (nor records a download) just by being shown.
pub fn download_href(e: &ExportStatusObject) -> String {
    format!("/exports/{}/download", e.export_id)
}

/// One export as a card: what it is, where it stands, and what the caller may do with it.
pub fn card(e: &ExportStatusObject, caller: &Caller, names: &Names) -> Markup {
    let id = e.export_id.to_string();
    let words = describe(&e.export_parameters.query);
    let shared = serde_json::to_string(&e.shared_with).unwrap_or_else(|_| "[]".into());
    html! {
        article.export id={ "export-" (id) } data-id=(id) data-status=(e.status.as_str()) data-version=(version(e))
            data-shared=(shared) data-creator=(e.creator_id) aria-labelledby={ "title-" (id) } {
            h2 id={ "title-" (id) } { a href={ "/exports/" (id) } { (words) } }
            (progress_line(e, caller))
            dl.facts {
                dt { "Created" } dd { (time(&e.created_at)) }
                @if e.creator_id != caller.id { dt { "Created by" } dd { (name(names, &e.creator_id)) } }
                @if let Some(done) = &e.completed_at { dt { "Completed" } dd { (time(done)) } }
                @if let Some(bytes) = e.size_bytes { dt { "Size" } dd { (size(bytes)) } }
                @if let Some(ads) = e.ad_count { dt { "Ads" } dd { (ads) } }
                @if let Some(images) = e.image_count { dt { "Images" } dd { (images) } }
                @if e.status == ExportStatus::Completed { dt { "Expires" } dd { (maybe_time(e.expires_at.as_deref())) } }
                dt { "Images included" } dd { @if e.export_parameters.include_images { "yes" } @else { "no" } }
            }
            (actions(e, caller))
        }
    }
}

/// The status line: the word and icon, a progress bar while processing, the message and a hint
/// when failed.
pub fn progress_line(e: &ExportStatusObject, caller: &Caller) -> Markup {
    let percent = match (e.status, e.progress.total) {
        (ExportStatus::Processing, Some(total)) if total > 0 => Some((e.progress.processed.min(total) * 100) / total),
        (ExportStatus::Processing, _) => Some(0),
        _ => None,
    };
    html! {
        p.status-line {
            (status(e.status))
            @if let Some(percent) = percent {
                " "
                progress max="100" value=(percent) aria-label="Progress" {}
                " " span.percent { (percent) "%" }
                @if let Some(total) = e.progress.total { span.sr-only { " (" (e.progress.processed) " of " (total) " ads)" } }
            }
        }
        @if e.status == ExportStatus::Failed {
            p.error {
                @if let Some(message) = &e.message { (message) ". " }
                @if manages(caller, &e.creator_id) { "You can try again with Retry." }
                @else { "Its creator can try again." }
            }
        }
    }
}

/// The buttons the caller may use. Each carries what the script needs in data attributes.
pub fn actions(e: &ExportStatusObject, caller: &Caller) -> Markup {
    let manager = manages(caller, &e.creator_id);
    let id = e.export_id.to_string();
    html! {
        div.actions {
            @if e.status == ExportStatus::Completed {
                a.button href=(download_href(e)) download { "Download" }
            }
            @if manager && e.status == ExportStatus::Failed {
                button type="button" data-action="retry" data-id=(id) { "Retry" }
            }
            @if manager && e.status == ExportStatus::Expired {
                button type="button" data-action="retry" data-id=(id) { "Run again" }
            }
            @if manager {
                button.secondary type="button" data-action="access" data-id=(id) { "Manage access (" (e.shared_with.len()) ")" }
                button.danger type="button" data-action="delete" data-id=(id) { "Delete" }
            }
        }
    }
}

/// The dialogs the actions open (one of each per page), filled in by the script.
pub fn dialogs() -> Markup {
    html! {
        dialog #access-dialog aria-labelledby="access-title" {
            h2 #access-title { "Manage access" }
            p { "People this export is shared with can see and download it, but not change or delete it." }
            ul.badges #access-badges aria-label="Shared with" {}
            p.hint #access-empty hidden { "Not shared with anyone yet." }
            form #access-form {
                div.field {
                    label for="access-user" { "Add user" }
                    // A text input with a list is a combobox to assistive technology already; an
                    // explicit role would need aria-expanded, which the browser's own list popup
                    // never updates.
                    input #access-user type="search" list="access-users" autocomplete="off"
                        aria-describedby="access-help access-error" placeholder="Start typing a name";
                    datalist #access-users {}
                    p.hint #access-help { "Pick a person by name, then Add." }
                    p.error #access-error role="alert" {}
                }
                div.actions {
                    button type="submit" { "Add" }
                    button.secondary type="button" data-close { "Done" }
                }
            }
        }
        dialog #confirm-dialog aria-labelledby="confirm-title" {
            h2 #confirm-title { "Delete this export?" }
            p #confirm-text { "The export and its file are deleted for everyone it is shared with. This cannot be undone." }
            p.error #confirm-error role="alert" {}
            div.actions {
                button.danger type="button" #confirm-yes { "Delete" }
                button.secondary type="button" data-close { "Cancel" }
            }
        }
        p.sr-only #announce aria-live="polite" {}
    }
}
