//! The typed request body: [`JsonBody<T>`] reads the body as JSON (a body that is not JSON, sent
//! without `Content-Type: application/json` or too large is refused by [`crate::error::Json`]) and
//! then as `T`, whose `Deserialize` is the one check of its shape; a refusal names the part at
//! fault by its path (`fields[1]: must be a field path (a string), found a number`).

use crate::error::{ApiError, Json};
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A request body of type `T`, checked once.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // JSON first, then its shape: a syntax error is INVALID_JSON, a shape INVALID_REQUEST.
        let Json(body) = Json::<Value>::from_request(req, state).await?;
        aao_export_core::body::from_value(&body).map(JsonBody).map_err(|e| ApiError::invalid(e.0))
    }
}
