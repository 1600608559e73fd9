//! Bearer tokens: read tokens may read, admin tokens may also change things. With no token configured
//! at all the API is open (the demo, a loopback-only setup); the serving process warns about it.

use crate::error::ApiError;
use crate::ApiState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use secrecy::{ExposeSecret, SecretString};

/// The configured tokens.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    pub read: Vec<SecretString>,
    pub admin: Vec<SecretString>,
    /// `/metrics` needs a read token too.
    pub protect_metrics: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Role {
    Read,
    Admin,
}

impl Tokens {
    /// Whether any token is configured (otherwise every request is admin).
    pub fn enabled(&self) -> bool {
        !self.read.is_empty() || !self.admin.is_empty()
    }

    /// The role a request with these headers has, or why it has none.
    pub(crate) fn role(&self, headers: &axum::http::HeaderMap) -> Result<Role, ApiError> {
        if !self.enabled() {
            return Ok(Role::Admin);
        }
        let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
            return Err(ApiError::Unauthorized);
        };
        let Some(token) = value.to_str().ok().and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        }) else {
            return Err(ApiError::Unauthorized);
        };
        let token = token.trim().as_bytes();
        // Every configured token is compared (in constant time each) so the timing says nothing
        // about which list matched.
        let admin = self.admin.iter().fold(false, |hit, t| {
            hit | same(t.expose_secret().as_bytes(), token)
        });
        let read = self.read.iter().fold(false, |hit, t| {
            hit | same(t.expose_secret().as_bytes(), token)
        });
        if admin {
            Ok(Role::Admin)
        } else if read {
            Ok(Role::Read)
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}

/// Constant-time comparison for equal lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Extractor: the request carries a read or admin token.
pub(crate) struct Reader;

/// Extractor: the request carries an admin token (403 for a read token).
pub(crate) struct Admin;

impl FromRequestParts<ApiState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        state.inner.tokens.role(&parts.headers).map(|_| Reader)
    }
}

impl FromRequestParts<ApiState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        match state.inner.tokens.role(&parts.headers)? {
            Role::Admin => Ok(Admin),
            Role::Read => Err(ApiError::Forbidden),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(auth: Option<&str>) -> axum::http::HeaderMap {
        let mut b = axum::http::Request::builder().uri("/");
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(()).expect("request").into_parts().0.headers
    }

    #[test]
    fn roles_follow_the_token_lists() {
        let t = Tokens {
            read: vec![SecretString::from("read-token-1".to_string())],
            admin: vec![SecretString::from("admin-token-1".to_string())],
            protect_metrics: false,
        };
        assert_eq!(
            t.role(&parts(Some("Bearer read-token-1"))).ok(),
            Some(Role::Read)
        );
        assert_eq!(
            t.role(&parts(Some("Bearer admin-token-1"))).ok(),
            Some(Role::Admin)
        );
        assert!(matches!(
            t.role(&parts(Some("Bearer nope"))),
            Err(ApiError::Unauthorized)
        ));
        assert!(matches!(
            t.role(&parts(Some("read-token-1"))),
            Err(ApiError::Unauthorized)
        ));
        assert!(matches!(t.role(&parts(None)), Err(ApiError::Unauthorized)));
        assert_eq!(Tokens::default().role(&parts(None)).ok(), Some(Role::Admin));
    }
}
