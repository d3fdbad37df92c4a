//! Email notices (issue 10): the creator of an export hears when it completes (with a link to its
//! page, never a presigned URL, which would expire first) and when it fails for good (with the
//! message). The notice is due in the same UPDATE that records the final state (an outbox on the
//! export row, see `NoticesDb`); whoever runs next (the worker after a job, upkeep on its
//! schedule) claims it by compare-and-set, sends it and marks it sent. So a crash neither loses a
//! notice nor repeats it, except in the instant between sending and marking. A mail server that
//! is down never fails or delays an export: the notice is tried again with backoff, then given
//! up and logged.

use aao_export_core::export::ExportStatus;
use aao_export_core::time::{human_bytes, millis, now_ms, rfc3339};
use aao_export_db::{DueNotice, NoticesDb};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;

/// Notices handled per pass (the rest wait for the next one).
const PER_PASS: u32 = 50;

/// How notices are sent and retried.
#[derive(Debug, Clone)]
pub struct NoticeSettings {
    /// The service's public address: each notice links to `{public_url}/exports/{id}`.
    pub public_url: String,
    pub from: String,
    /// The first retry waits this long; each further one twice as long.
    pub retry_base: Duration,
    /// Sends tried before a notice is given up.
    pub max_attempts: u32,
    /// How long a claim keeps other senders off (longer than one send can take).
    pub claim: Duration,
    /// Longest wait for the mail server at each step.
    pub timeout: Duration,
    /// Shown in the email: the days a completed export stays downloadable.
    pub expiration_days: u32,
}

impl NoticeSettings {
    pub fn new(public_url: &str, from: &str, expiration_days: u32) -> Self {
        Self {
            public_url: public_url.trim_end_matches('/').to_string(),
            from: from.to_string(),
            // 1, 2, 4, … 32 minutes: about an hour of trying.
            retry_base: Duration::from_secs(60),
            max_attempts: 7,
            claim: Duration::from_secs(120),
            timeout: Duration::from_secs(15),
            expiration_days,
        }
    }
}

/// Why the notifier cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    #[error("EMAIL_SMTP_URL is not a usable SMTP URL (smtp://, smtps://, smtp://…?tls=required): {0}")]
    SmtpUrl(String),
    #[error("EMAIL_FROM {0:?} is not an email address (e.g. `Ad Observatory <exports@example.org>`)")]
    From(String),
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NoticeReport {
    pub sent: u32,
    /// Failed this time, to be tried again later.
    pub deferred: u32,
    pub given_up: u32,
}

/// Sends the notices that are due.
pub struct Notifier {
    notices: Arc<dyn NoticesDb>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    settings: NoticeSettings,
}

impl Notifier {
    /// A notifier for `smtp_url` (`smtp://user:password@host:port`, `smtps://…` for TLS,
    /// `?tls=required` for STARTTLS).
    pub fn new(notices: Arc<dyn NoticesDb>, smtp_url: &str, settings: NoticeSettings) -> Result<Self, NotifierError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            // The URL may hold a password: only lettre's own reason is shown.
            .map_err(|e| NotifierError::SmtpUrl(e.to_string()))?
            .timeout(Some(settings.timeout))
            .build();
        let from = settings.from.parse().map_err(|_| NotifierError::From(settings.from.clone()))?;
        Ok(Self { notices, transport, from, settings })
    }

    /// Sends every notice due now (up to a pass's worth). Errors are logged, never returned: a
    /// notice is an extra, and the next pass tries again.
    pub async fn send_due(&self) -> NoticeReport {
        let mut report = NoticeReport::default();
        let now = now_ms();
        let due = match self.notices.due_notices(now, PER_PASS).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "reading the due email notices failed; the next pass tries again");
                return report;
            }
        };
        for notice in due {
            let span = tracing::info_span!("notice", export_id = %notice.export_id);
            let _entered = span.enter();
            match self.notices.claim_notice(notice.export_id, now, now + millis(self.settings.claim)).await {
                Ok(true) => {}
                Ok(false) => continue, // another process has it
                Err(e) => {
                    tracing::warn!(error = %e, "claiming an email notice failed");
                    continue;
                }
            }
            let attempt = notice.attempts + 1;
            match self.send(&notice).await {
                Ok(()) => {
                    if let Err(e) = self.notices.notice_sent(notice.export_id, now_ms()).await {
                        // Its claim runs out and it is sent again: the one duplicate the design allows.
                        tracing::warn!(error = %e, "the notice was sent but recording it failed");
                    }
                    tracing::info!(to = %notice.email, "email notice sent");
                    report.sent += 1;
                }
                Err(error) => {
                    let retry_at = (attempt < self.settings.max_attempts).then(|| {
                        now_ms() + millis(self.settings.retry_base * 2u32.saturating_pow(attempt.saturating_sub(1)))
                    });
                    match retry_at {
                        Some(_) => {
                            tracing::warn!(%error, attempt, "sending an email notice failed; it will be tried again");
                            report.deferred += 1;
                        }
                        None => {
                            tracing::error!(%error, attempt, "sending an email notice failed again; giving up");
                            report.given_up += 1;
                        }
                    }
                    if let Err(e) = self.notices.notice_not_sent(notice.export_id, retry_at).await {
                        tracing::warn!(error = %e, "recording a failed email notice failed; its claim runs out");
                    }
                }
            }
        }
        report
    }

    /// Whether the mail server answers (for `aao-export check`); the error as text.
    pub async fn reachable(&self) -> Result<(), String> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err("it accepted the connection but did not answer NOOP".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn send(&self, notice: &DueNotice) -> Result<(), String> {
        let to: Mailbox = match notice.email.parse() {
            Ok(address) => Mailbox::new(Some(notice.full_name.clone()).filter(|n| !n.is_empty()), address),
            Err(e) => return Err(format!("the address {:?} is not usable: {e}", notice.email)),
        };
        let (subject, body) = compose(notice, &self.settings);
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .body(body)
            .map_err(|e| format!("composing the email failed: {e}"))?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| e.to_string())
    }
}

/// The subject and plain-text body of a notice.
pub fn compose(notice: &DueNotice, settings: &NoticeSettings) -> (String, String) {
    let link = format!("{}/exports/{}", settings.public_url, notice.export_id);
    let greeting =
        if notice.full_name.is_empty() { "Hello".to_string() } else { format!("Hello {}", notice.full_name) };
    match notice.status {
        ExportStatus::Completed => {
            let contents = format!(
                "{} ads, {} images, {}",
                notice.ad_count.unwrap_or(0),
                notice.image_count.unwrap_or(0),
                human_bytes(notice.size_bytes.unwrap_or(0))
            );
            let expires = notice
                .completed_at
                .map(|at| rfc3339(at + i64::from(settings.expiration_days) * 86_400_000))
                .map(|at| format!("It can be downloaded until {at}.\n"))
                .unwrap_or_default();
            (
                "Your Ad Observatory export is ready".into(),
                format!(
                    "{greeting},\n\nyour export {} is ready: {contents}.\n\nDownload it from its page (sign in if asked):\n{link}\n\n{expires}\n-- \nAustralian Ad Observatory exports\n",
                    notice.export_id
                ),
            )
        }
        _ => (
            "Your Ad Observatory export failed".into(),
            format!(
                "{greeting},\n\nyour export {} failed:\n\n  {}\n\nIts page lets you run it again:\n{link}\n\n-- \nAustralian Ad Observatory exports\n",
                notice.export_id,
                notice.message.as_deref().unwrap_or("no reason was recorded")
            ),
        ),
    }
}
