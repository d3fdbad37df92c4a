//! The use cases on exports: create, list, read, delete, share, unshare, retry, the stable
//! download link with its record of who downloaded, and the local download.
//!
//! Who may do what (aao-contracts.md §5): the creator and admins manage an export (and see who
//! downloaded it); users it is shared with may see and download it but not manage it (403);
//! anyone else is told it does not exist (404, the same answer as for an id that names nothing).
//!
//! A download is recorded when the service hands a user a URL for one export: the stable link
//! (`GET /exports/{id}/download`) or a status read that carries a URL. On S3 the fetch of a
//! presigned URL never reaches us, so the hand-over is the one moment we can see. A list does not
//! record: it mints a URL for every completed export at once, and pages poll it, so it would count
//! looks, not downloads.

use crate::Service;
use crate::auth::Caller;
use crate::error::{Code, ServiceError, ServiceResult, conflict_or};
use aao_export_core::api::{CreateExportRequest, Download, DownloadVia, ExportStatusObject, ShareRequest, UserSummary};
use aao_export_core::export::{ExportRecord, ExportRequest, ExportStatus, JobMessage, object_key};
use aao_export_core::fields::ExportableField;
use aao_export_core::time::{now_ms, rfc3339};
use aao_export_db::{CreateOutcome, DbError, NewDownload, NewExport, RetryExport, RetryOutcome};
use object_store::ObjectStoreExt;
use std::time::Duration;
use uuid::Uuid;

/// A download link is valid for at most this long (and never past the export's expiry).
pub const MAX_LINK_LIFETIME: Duration = Duration::from_secs(3600);

/// The longest an answer waits for its download to be recorded. The write runs on its own task,
/// so a slow or failing database never fails the download nor holds it longer than this, and a
/// client that hangs up does not cancel the write; normally it is done well within, so the
/// record is there by the time the answer arrives.
pub const RECORD_WAIT: Duration = Duration::from_millis(500);

/// Whether status objects carry a fresh download link. The pages link to the stable
/// `/exports/{id}/download` instead, so showing a page neither signs nor records anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    Fresh,
    Omitted,
}

/// May this caller see the export (and download it)?
pub fn may_see(caller: &Caller, record: &ExportRecord) -> bool {
    caller.is_admin() || record.creator_id == caller.id || record.shared_with.contains(&caller.id)
}

/// May this caller manage the export (delete, share, unshare, retry)?
pub fn may_manage(caller: &Caller, record: &ExportRecord) -> bool {
    manages(caller, &record.creator_id)
}

/// The management rule on its own: the creator and admins (for pages showing status objects).
pub fn manages(caller: &Caller, creator_id: &str) -> bool {
    caller.is_admin() || creator_id == caller.id
}

/// User ids never hold control characters (and PostgreSQL cannot even compare text holding NUL).
pub(crate) fn has_control(id: &str) -> bool {
    id.chars().any(char::is_control)
}

fn no_export(id: Uuid) -> ServiceError {
    ServiceError::not_found(format!("no export {id}"))
}

fn expired(id: Uuid) -> ServiceError {
    ServiceError::refuse(
        Code::ExportExpired,
        format!(
            "export {id} has expired and its file was deleted; its creator or an admin can run it again (POST /exports/{id}/retry)"
        ),
    )
}

fn not_retryable(id: Uuid, status: ExportStatus) -> ServiceError {
    ServiceError::refuse(
        Code::NotRetryable,
        format!("export {id} is {status}; only failed or expired exports can be retried"),
    )
}

#[derive(Clone, Copy, PartialEq)]
enum Sharing {
    Share,
    Unshare,
}

impl Service {
    /// The export, if the caller may see it; otherwise the same 404 as for an unknown id.
    pub async fn visible(&self, caller: &Caller, id: Uuid) -> ServiceResult<ExportRecord> {
        match self.exports.export(id).await? {
            Some(record) if may_see(caller, &record) => Ok(record),
            _ => Err(no_export(id)),
        }
    }

    /// The export, if the caller may manage it: 404 when they may not see it, 403 when they may
    /// only see it.
    pub async fn managed(&self, caller: &Caller, id: Uuid, action: &str) -> ServiceResult<ExportRecord> {
        let record = self.visible(caller, id).await?;
        if !may_manage(caller, &record) {
            return Err(ServiceError::refuse(
                Code::Forbidden,
                format!(
                    "export {id} is shared with you, but only its creator ({}) or an admin may {action}",
                    record.creator_id
                ),
            ));
        }
        Ok(record)
    }

    /// The status object as a reader sees it at `now`, with a fresh download link when completed.
    pub async fn status_object(&self, record: &ExportRecord, now: i64) -> ExportStatusObject {
        self.status_object_with(record, now, Links::Fresh).await
    }

    async fn status_object_with(&self, record: &ExportRecord, now: i64, links: Links) -> ExportStatusObject {
        let url = match links {
            Links::Fresh => self.download_link(record, now).await,
            Links::Omitted => None,
        };
        ExportStatusObject::new(record, url, now, self.settings.expiry_ms())
    }

    /// A fresh download link for a completed, unexpired export: valid for at most
    /// [`MAX_LINK_LIFETIME`] and never past the expiry. `None` otherwise, or when signing failed
    /// (logged; the status is still worth answering).
    pub async fn download_link(&self, record: &ExportRecord, now: i64) -> Option<String> {
        match self.sign_link(record, now).await {
            Ok(url) => url,
            Err(e) => {
                tracing::error!(export_id = %record.export_id, error = %e, "signing a download link failed");
                None
            }
        }
    }

    /// [`Service::download_link`], with a failure to sign as an error.
    async fn sign_link(&self, record: &ExportRecord, now: i64) -> ServiceResult<Option<String>> {
        let expiry_ms = self.settings.expiry_ms();
        if record.status_at(now, expiry_ms) != ExportStatus::Completed {
            return Ok(None);
        }
        let Some(key) = record.object_location.as_deref() else { return Ok(None) };
        let Some(expires_at) = record.expires_at(expiry_ms) else { return Ok(None) };
        let valid_ms = expires_at.saturating_sub(now).min(aao_export_core::time::millis(MAX_LINK_LIFETIME));
        if valid_ms <= 0 {
            return Ok(None);
        }
        let valid_for = Duration::from_millis(valid_ms.unsigned_abs());
        Ok(Some(self.files.download_link(&self.links, record.export_id, key, now, valid_for).await?))
    }

    /// Creates an export: validates the request against the catalogue, refuses a creator with
    /// too many exports in flight, and queues its job with the write that records it.
    pub async fn create(&self, caller: &Caller, request: &CreateExportRequest) -> ServiceResult<ExportStatusObject> {
        let catalogue = self.catalogue.exportable_fields().await?;
        let request = ExportRequest::resolve(request, &catalogue).map_err(|e| ServiceError::invalid(e.0))?;
        let record = ExportRecord::pending(
            Uuid::new_v4(),
            &caller.id,
            request.parameters(),
            self.settings.max_retries,
            now_ms(),
        );
        let message = JobMessage::for_attempt(&record, 1);
        let export_id = record.export_id;
        let outcome = self
            .commit_with_job(&message, async |queue_body| {
                let new = NewExport {
                    export_id,
                    creator_id: record.creator_id.clone(),
                    parameters: record.parameters.clone(),
                    field_ids: request.fields.iter().map(|f| f.field_id).collect(),
                    max_retries: record.max_retries,
                    created_at: record.created_at,
                    max_in_flight: self.settings.max_in_flight,
                    queue_body,
                };
                self.exports.create_export(&new).await
            })
            .await
            .map_err(|e| conflict_or(e, || format!("export {export_id} exists already")))?;
        let created = match outcome {
            CreateOutcome::Created(record) => record,
            CreateOutcome::TooManyInFlight(in_flight) => {
                let limit = self.settings.max_in_flight;
                return Err(ServiceError::refuse(
                    Code::TooManyExports,
                    format!(
                        "you have {in_flight} exports pending or processing and at most {limit} may be in flight at once; wait for one to finish or delete one"
                    ),
                ));
            }
        };
        tracing::info!(%export_id, creator = %caller.id, "export created");
        Ok(self.status_object(&created, now_ms()).await)
    }

    /// Runs a failed or expired export again from the start, under the same id: back to pending
    /// for attempt 1 with the same parameters and shares, its old file deleted, and queued. For
    /// its creator and admins; an export in any other state is refused (409), and so is one whose
    /// creator has too many exports in flight (429), as for a new export.
    pub async fn retry(&self, caller: &Caller, id: Uuid) -> ServiceResult<ExportStatusObject> {
        let record = self.managed(caller, id, "retry it").await?;
        let now = now_ms();
        let expiry_ms = self.settings.expiry_ms();
        let status = record.status_at(now, expiry_ms);
        if !matches!(status, ExportStatus::Failed | ExportStatus::Expired) {
            return Err(not_retryable(id, status));
        }
        let message = JobMessage::for_attempt(&record, 1);
        let outcome = self
            .commit_with_job(&message, async |queue_body| {
                let retry = RetryExport {
                    export_id: id,
                    now,
                    expired_before: now.saturating_sub(expiry_ms),
                    max_in_flight: self.settings.max_in_flight,
                    queue_body,
                };
                self.exports.retry_export(&retry).await
            })
            .await?;
        let (retried, old_file) = match outcome {
            RetryOutcome::Retried { record, old_object_location } => (record, old_object_location),
            // Changed since it was read (retried, deleted or swept by someone else meanwhile).
            RetryOutcome::NotRetryable(current) => return Err(not_retryable(id, current.status_at(now, expiry_ms))),
            RetryOutcome::Gone => return Err(no_export(id)),
            RetryOutcome::TooManyInFlight(in_flight) => {
                let limit = self.settings.max_in_flight;
                let who = if record.creator_id == caller.id {
                    "you have".to_string()
                } else {
                    format!("its creator {:?} has", record.creator_id)
                };
                return Err(ServiceError::refuse(
                    Code::TooManyExports,
                    format!(
                        "{who} {in_flight} exports pending or processing and at most {limit} may be in flight at once; wait for one to finish or delete one, then retry export {id}"
                    ),
                ));
            }
        };
        // The new run writes under its own created_at; a key it shares with the old file is its own.
        let new_key = object_key(&retried.creator_id, id, retried.created_at);
        if let Some(key) = old_file.filter(|key| *key != new_key) {
            match self.files.store.delete(&object_store::path::Path::from(key.as_str())).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => {
                    tracing::error!(export_id = %id, key, error = %e, "the export was retried but its old file could not be deleted")
                }
            }
        }
        tracing::info!(export_id = %id, by = %caller.id, was = %status, "export retried");
        Ok(self.status_object(&retried, now_ms()).await)
    }

    /// Exports created by or shared with a user (the caller by default; another user's only for
    /// admins), newest first. Links are never recorded as downloads here (see the module's note).
    pub async fn list(
        &self,
        caller: &Caller,
        user_id: Option<&str>,
        links: Links,
    ) -> ServiceResult<Vec<ExportStatusObject>> {
        let target = match user_id {
            Some(id) if id.trim().is_empty() => {
                return Err(ServiceError::invalid("user_id: empty; name a user, or leave it out for your own exports"));
            }
            Some(id) if has_control(id) => {
                return Err(ServiceError::invalid(format!(
                    "user_id: {id:?} contains a control character; user ids never do"
                )));
            }
            Some(id) => id,
            None => caller.id.as_str(),
        };
        if target != caller.id {
            if !caller.is_admin() {
                return Err(ServiceError::refuse(
                    Code::Forbidden,
                    format!("only admins may list another user's exports; you are {:?}", caller.id),
                ));
            }
            if !self.users.unknown_users(&[target.to_string()]).await?.is_empty() {
                return Err(ServiceError::refuse(Code::UnknownUsers, format!("user_id: no user {target:?}")));
            }
        }
        let records = self.exports.exports_visible_to(target).await?;
        let now = now_ms();
        let mut list = Vec::with_capacity(records.len());
        for record in &records {
            list.push(self.status_object_with(record, now, links).await);
        }
        Ok(list)
    }

    /// One export's status, for whoever may see it. With [`Links::Fresh`], a status that carries
    /// a download link records a download (`api`), and its count includes it once recorded.
    pub async fn read(&self, caller: &Caller, id: Uuid, links: Links) -> ServiceResult<ExportStatusObject> {
        let record = self.visible(caller, id).await?;
        let mut status = self.status_object_with(&record, now_ms(), links).await;
        if status.url.is_some() && self.record_download(caller, id, DownloadVia::Api).await {
            status.download_count += 1;
        }
        Ok(status)
    }

    /// A fresh download link for whoever may see the export, recorded as a download (`link`):
    /// what the stable `GET /exports/{id}/download` redirects to. An export that is not completed
    /// is refused with its status (409), an expired one with 410; never a dead link.
    pub async fn download(&self, caller: &Caller, id: Uuid) -> ServiceResult<String> {
        let record = self.visible(caller, id).await?;
        let now = now_ms();
        match record.status_at(now, self.settings.expiry_ms()) {
            ExportStatus::Completed => {}
            ExportStatus::Expired => return Err(expired(id)),
            status => {
                let next = match status {
                    ExportStatus::Failed => format!("its creator or an admin can retry it (POST /exports/{id}/retry)"),
                    _ => format!("try again once it has completed; GET /exports/{id} shows its progress"),
                };
                return Err(ServiceError::refuse(
                    Code::ExportNotCompleted,
                    format!("export {id} is {status}, not completed, so there is nothing to download; {next}"),
                ));
            }
        }
        let url = self.sign_link(&record, now).await?.ok_or_else(|| ServiceError::MissingFile(id))?;
        self.record_download(caller, id, DownloadVia::Link).await;
        tracing::info!(export_id = %id, by = %caller.id, "download link handed out");
        Ok(url)
    }

    /// Who downloaded an export, newest first: for its creator and admins (404 for those who may
    /// not see it, 403 for users it is shared with, as for the other management actions).
    pub async fn downloads(&self, caller: &Caller, id: Uuid) -> ServiceResult<Vec<Download>> {
        self.managed(caller, id, "see who downloaded it").await?;
        let records = self.exports.downloads(id).await?;
        Ok(records
            .into_iter()
            .map(|d| Download {
                user_id: d.user_id,
                full_name: d.full_name,
                downloaded_at: rfc3339(d.downloaded_at),
                via: d.via,
            })
            .collect())
    }

    /// Records that the caller was handed a URL of the export, best effort (see [`RECORD_WAIT`]):
    /// true when the record was written before the answer goes.
    async fn record_download(&self, caller: &Caller, id: Uuid, via: DownloadVia) -> bool {
        let exports = self.exports.clone();
        let download = NewDownload { export_id: id, user_id: caller.id.clone(), at: now_ms(), via };
        let write = tokio::spawn(async move {
            let written = exports.record_download(&download).await;
            if let Err(e) = &written {
                tracing::warn!(export_id = %download.export_id, user = %download.user_id, error = %e, "a download could not be recorded");
            }
            written.is_ok()
        });
        match tokio::time::timeout(RECORD_WAIT, write).await {
            Ok(Ok(written)) => written,
            Ok(Err(e)) => {
                tracing::error!(export_id = %id, error = %e, "recording a download failed");
                false
            }
            Err(_) => {
                tracing::warn!(export_id = %id, "recording a download is slow; answering without waiting for it");
                false
            }
        }
    }

    /// Deletes an export: the rows, then the file. A worker building it notices its lease is
    /// gone and stops.
    pub async fn delete(&self, caller: &Caller, id: Uuid) -> ServiceResult<()> {
        self.managed(caller, id, "delete it").await?;
        let Some(record) = self.exports.delete_export(id).await? else { return Err(no_export(id)) };
        if let Some(key) = record.object_location.as_deref() {
            match self.files.store.delete(&object_store::path::Path::from(key)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                // The rows are gone, so the export is deleted as far as anyone can see; the file
                // left behind is logged for an operator (S3's lifecycle rule removes it anyway).
                Err(e) => {
                    tracing::error!(export_id = %id, key, error = %e, "the export was deleted but its file could not be")
                }
            }
        }
        tracing::info!(export_id = %id, by = %caller.id, "export deleted");
        Ok(())
    }

    /// Gives users access; returns whom the export is shared with after.
    pub async fn share(&self, caller: &Caller, id: Uuid, request: &ShareRequest) -> ServiceResult<Vec<String>> {
        self.change_shares(caller, id, request, Sharing::Share).await
    }

    /// Takes users' access away; returns whom the export is shared with after.
    pub async fn unshare(&self, caller: &Caller, id: Uuid, request: &ShareRequest) -> ServiceResult<Vec<String>> {
        self.change_shares(caller, id, request, Sharing::Unshare).await
    }

    /// Checks everything before changing anything: a list with an unknown user or the creator is
    /// refused whole.
    async fn change_shares(
        &self,
        caller: &Caller,
        id: Uuid,
        request: &ShareRequest,
        how: Sharing,
    ) -> ServiceResult<Vec<String>> {
        let action = if how == Sharing::Share { "share it" } else { "unshare it" };
        let record = self.managed(caller, id, action).await?;
        let ids = &request.user_ids;
        if let Some(bad) = ids.iter().find(|id| has_control(id)) {
            return Err(ServiceError::invalid(format!(
                "user_ids: {bad:?} contains a control character; user ids never do"
            )));
        }
        let unknown = self.users.unknown_users(ids).await?;
        if !unknown.is_empty() {
            let named = unknown.iter().map(|u| format!("{u:?}")).collect::<Vec<_>>().join(", ");
            let s = if unknown.len() == 1 { "" } else { "s" };
            return Err(ServiceError::refuse(
                Code::UnknownUsers,
                format!("user_ids: no user{s} {named}; nothing was changed"),
            ));
        }
        if ids.contains(&record.creator_id) {
            return Err(ServiceError::invalid(format!(
                "user_ids: {:?} created this export and always has access to it; nothing was changed",
                record.creator_id
            )));
        }
        let changed = match how {
            Sharing::Share => self.exports.share_export(id, ids).await,
            Sharing::Unshare => self.exports.unshare_export(id, ids).await,
        };
        let shared_with = match changed {
            Ok(shared_with) => shared_with,
            // Deleted by someone else since it was read: the share's reference is gone.
            Err(DbError::MissingReference(_)) => return Err(no_export(id)),
            Err(e) => return Err(e.into()),
        };
        tracing::info!(export_id = %id, by = %caller.id, users = ?ids, shared = (how == Sharing::Share), "export access changed");
        Ok(shared_with)
    }

    /// The catalogue of exportable fields, in catalogue order.
    pub async fn fields(&self) -> ServiceResult<Vec<ExportableField>> {
        Ok(self.catalogue.exportable_fields().await?)
    }

    /// The enabled users one may share with, by id.
    pub async fn users(&self) -> ServiceResult<Vec<UserSummary>> {
        let users = self.users.enabled_users().await?;
        Ok(users
            .into_iter()
            .map(|l| UserSummary {
                id: l.user.id,
                full_name: l.user.full_name,
                username: l.username,
                enabled: l.user.enabled,
                role: l.user.role,
                provider: l.provider,
            })
            .collect())
    }

    /// The file behind a local download link, once the link's signature, its expiry and the
    /// export's state are checked. The link is the credential: no caller is needed.
    pub async fn local_download(
        &self,
        raw_id: &str,
        expires: i64,
        signature: &str,
    ) -> ServiceResult<(Uuid, std::path::PathBuf)> {
        if !self.links.verify(raw_id, expires, signature) {
            return Err(bad_link());
        }
        let now = now_ms();
        if expires.saturating_mul(1000) < now {
            return Err(ServiceError::refuse(
                Code::LinkExpired,
                format!(
                    "this download link expired at {}; GET /exports/{raw_id} gives a fresh one",
                    rfc3339(expires.saturating_mul(1000))
                ),
            ));
        }
        let gone = || ServiceError::not_found(format!("export {raw_id} no longer exists or has no file to download"));
        let id = Uuid::try_parse(raw_id).map_err(|_| gone())?;
        let record = self.exports.export(id).await?.ok_or_else(gone)?;
        match record.status_at(now, self.settings.expiry_ms()) {
            ExportStatus::Completed => {}
            ExportStatus::Expired => return Err(expired(id)),
            _ => return Err(gone()),
        }
        if self.files.is_s3() {
            return Err(ServiceError::not_found(format!(
                "export {id} is stored on S3: download it from the link in GET /exports/{id}"
            )));
        }
        let path = record.object_location.as_deref().and_then(|key| self.files.local_path(key)).ok_or_else(gone)?;
        Ok((id, path))
    }
}

/// A local download link that is incomplete or altered.
pub fn bad_link() -> ServiceError {
    ServiceError::refuse(
        Code::InvalidSignature,
        "this download link is incomplete or has been altered; GET /exports/{export_id} gives a fresh one",
    )
}
