//! What every handler shares: the service layer and the HTTP-only settings.

use aao_export_service::Service;
use std::sync::Arc;

/// The largest request body accepted, unless configured (64 KiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// The router's state. Cheap to clone: the parts are shared.
#[derive(Clone, Debug)]
pub struct AppState {
    pub service: Service,
    /// The largest request body accepted.
    pub max_body_bytes: usize,
}

impl AppState {
    /// The service behind the API, with the default body limit.
    pub fn new(service: Service) -> Self {
        AppState { service, max_body_bytes: DEFAULT_MAX_BODY_BYTES }
    }
}

/// The router's state: one shared [`AppState`].
pub(crate) type Shared = Arc<AppState>;
