//! The one error type of the handlers: a status and a JSON body `{"error": message, "code": code}`.
//! Internal causes are logged, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A sentence for people, lowercase, without internals.
    pub error: String,
    /// A stable machine-readable code: `unauthorized`, `forbidden`, `not_found`, `bad_request`,
    /// `conflict`, `unavailable`, `internal`.
    pub code: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or invalid bearer token")]
    Unauthorized,
    #[error("this needs an admin token")]
    Forbidden,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the request body is too large")]
    TooLarge,
    #[error("{0}")]
    Unavailable(String),
    /// The cause is logged with `op`; the client sees "internal error".
    #[error("internal error while trying to {op}")]
    Internal { op: &'static str, cause: String },
}

impl ApiError {
    /// Logs `cause` (a store error: backend, operation and the driver's redacted message) and returns
    /// the opaque error.
    pub fn internal(op: &'static str, cause: impl std::fmt::Display) -> ApiError {
        ApiError::Internal {
            op,
            cause: cause.to_string(),
        }
    }

    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let message = match &self {
            ApiError::Internal { op, cause } => {
                tracing::error!(op, cause = %cause, "api request failed");
                "internal error".to_string()
            }
            ApiError::Unavailable(m) => {
                tracing::warn!(reason = %m, "api dependency unavailable");
                m.clone()
            }
            other => other.to_string(),
        };
        let mut res = (
            status,
            Json(ErrorBody {
                error: message,
                code: code.to_string(),
            }),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        res
    }
}

/// A JSON 4xx for a request the framework could not decode (bad query, path or body).
pub fn rejection(r: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(r.to_string().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_errors_do_not_leak_their_cause() {
        let res = ApiError::internal(
            "read",
            "postgres store failed: relation \"x\" does not exist",
        )
        .into_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("relation"), "{text}");
        assert!(text.contains("\"internal\""), "{text}");
    }
}
