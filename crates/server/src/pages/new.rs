//! `/exports/new`: the query (a builder for every AAO method, or JSON), a live count with size
//! estimates and a first look at the matching ads, the fields, images or not. The page's script
//! (`new.js`) asks `POST /exports/preview` as the query changes and creates the export with
//! `POST /exports`, showing any error next to the part it names.

use super::layout::{Nav, page};
use super::{error_page, html_response, signed_in};
use crate::state::Shared;
use aao_export_core::fields::ExportableField;
use aao_export_core::query::METHODS;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub struct NewParams {
    /// An export to copy: its query, fields and images setting fill the form.
    from: Option<String>,
}

/// `GET /exports/new` for a browser.
pub async fn new_export(State(state): State<Shared>, headers: HeaderMap, Query(params): Query<NewParams>) -> Response {
    let caller = match signed_in(&state, &headers, "/exports/new").await {
        Ok(caller) => caller,
        Err(redirect) => return redirect,
    };
    let fields = match state.service.fields().await {
        Ok(fields) => fields,
        Err(e) => return error_page(Some(&caller), &e),
    };
    // A copy starts from the export's own parameters; an export the caller may not see is a 404.
    let initial = match params.from.as_deref().map(uuid::Uuid::try_parse) {
        None => json!(null),
        Some(Ok(id)) => match state.service.read(&caller, id, aao_export_service::exports::Links::Omitted).await {
            Ok(export) => json!(export.export_parameters),
            Err(e) => return error_page(Some(&caller), &e),
        },
        Some(Err(_)) => {
            return error_page(
                Some(&caller),
                &aao_export_service::ServiceError::not_found("no export to copy: export ids are UUIDs"),
            );
        }
    };
    let methods: Vec<_> = METHODS.iter().map(|(method, label)| json!({"method": method, "label": label})).collect();
    let body = html! {
        h1 { "New export" }
        form #new-export novalidate data-initial=(initial) data-methods=(json!(methods)) {
            fieldset #query-section {
                legend { "Which ads" }
                div.toolbar role="radiogroup" aria-label="How to write the query" {
                    label { input type="radio" name="mode" value="builder" checked; " Builder" }
                    label { input type="radio" name="mode" value="json"; " JSON" }
                }
                div #builder {
                    noscript { p.error { "The query builder needs JavaScript; use the JSON mode, or the API." } }
                }
                div.field #json-mode hidden {
                    label for="query-json" { "Query JSON" }
                    textarea #query-json name="query" spellcheck="false" aria-describedby="query-json-help query-error" {}
                    p.hint #query-json-help { "A query as the API takes it, e.g. {\"method\": \"PAGE_NAME_CONTAINS\", \"args\": [\"bank\"]}." }
                }
                p.error #query-error role="alert" {}
            }
            section #matches aria-labelledby="matches-title" {
                h2 #matches-title { "Matching ads" }
                p.count #count aria-live="polite" { "Counting…" }
                p #estimate {}
                details #browse {
                    summary { "Browse ads" }
                    ul.ads #preview-ads {}
                }
            }
            (fields_section(&fields))
            fieldset {
                legend { "Images" }
                div.switch {
                    input #include-images type="checkbox" role="switch" name="include_images" aria-describedby="images-warning";
                    label for="include-images" { "Include images" }
                }
                p.hint #images-warning { "Images make the export much larger and slower to build and to download." }
            }
            p.error-box #form-error role="alert" hidden {}
            div.actions {
                button #create type="submit" { "Create export" }
                a.button.secondary href="/exports" { "Cancel" }
            }
        }
    };
    html_response(StatusCode::OK, page("New export", Some(&caller), Nav::New, &["new.js"], body))
}

/// Checkboxes by group, the catalogue's defaults preselected, with search and bulk choices.
fn fields_section(fields: &[ExportableField]) -> Markup {
    let mut groups: Vec<(&str, Vec<&ExportableField>)> = Vec::new();
    for f in fields {
        match groups.iter_mut().find(|(g, _)| *g == f.group) {
            Some((_, members)) => members.push(f),
            None => groups.push((&f.group, vec![f])),
        }
    }
    html! {
        fieldset #fields-section aria-describedby="field-count fields-error" {
            legend { "Fields" }
            div.toolbar {
                label.sr-only for="field-search" { "Search fields" }
                input #field-search type="search" placeholder="Search fields" aria-label="Search fields";
                button.secondary type="button" data-fields="all" { "Select all" }
                button.secondary type="button" data-fields="defaults" { "Defaults only" }
                button.secondary type="button" data-fields="none" { "Clear" }
                span #field-count aria-live="polite" {}
            }
            p.error #fields-error role="alert" {}
            div.field-groups {
                @for (group, members) in &groups {
                    fieldset.group data-group=(group) {
                        legend { (group) " " button.secondary type="button" data-group-all=(group) aria-label={ "Select all " (group) " fields" } { "All" } }
                        @for f in members {
                            @let id = format!("field-{}", f.field_id);
                            label title=(f.description) {
                                input #(id) type="checkbox" name="field" value=(f.path) checked[f.is_default] data-default[f.is_default]
                                    aria-describedby={ (id) "-desc" };
                                span { (f.name) }
                            }
                            span.desc.sr-only id={ (id) "-desc" } { (f.description) " (" (f.path) ")" }
                        }
                    }
                }
            }
        }
    }
}
