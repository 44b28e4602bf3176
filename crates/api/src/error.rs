//! The one error body: `{"detail": "<human message>", "error": "<code>", "issues": [...]}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use decnet_domain::Issue;
use decnet_engine::EngineError;
use decnet_store::StoreError;
use serde_json::json;

/// An error as the API answers it.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    issues: Vec<Issue>,
}

impl ApiError {
    /// A client error of `status` with a machine `code`.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self { status, code, detail: detail.into(), issues: Vec::new() }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        let status = match &err {
            StoreError::NotFound { .. } => StatusCode::NOT_FOUND,
            StoreError::VersionConflict { .. }
            | StoreError::WrongStatus { .. }
            | StoreError::IllegalTransition(_)
            | StoreError::NameTaken { .. } => StatusCode::CONFLICT,
            StoreError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let code = match &err {
            StoreError::NotFound { .. } => "not_found",
            StoreError::VersionConflict { .. } => "version_conflict",
            StoreError::WrongStatus { .. } | StoreError::IllegalTransition(_) => "wrong_status",
            StoreError::NameTaken { .. } => "name_taken",
            StoreError::Refused(_) => "refused",
            _ => "internal",
        };
        let issues = if let StoreError::Refused(r) = &err { r.issues.clone() } else { Vec::new() };
        // Internal failures are not described to the client.
        let detail =
            if status == StatusCode::INTERNAL_SERVER_ERROR { "internal error".into() } else { err.to_string() };
        Self { status, code, detail, issues }
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::Store(store) => store.into(),
            EngineError::Refused(refusal) => Self {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "refused",
                detail: refusal.to_string(),
                issues: refusal.issues,
            },
            EngineError::Generate(err) => Self::new(StatusCode::BAD_REQUEST, "invalid_parameter", err.to_string()),
            _ => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "detail": self.detail, "error": self.code, "issues": self.issues });
        (self.status, Json(body)).into_response()
    }
}

/// Query parameters whose parse errors answer with the API's error body (400), not
/// axum's plain-text rejection.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, "invalid_parameter", rejection.body_text()))
    }
}

/// The answer to a path no route serves.
pub(crate) async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no route for {}", uri.path()))
}

/// A JSON body whose syntax errors answer 400 and whose shape errors answer 422, both with
/// the API's error body.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::rejection::JsonRejection;
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(JsonRejection::JsonDataError(e)) => {
                Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", e.body_text()))
            }
            Err(e) => Err(ApiError::new(e.status(), "malformed_body", e.body_text())),
        }
    }
}
