//! The one error body: `{"detail": "<human message>", "error": "<code>", "issues": [...]}`.

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode};
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
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    /// A client error of `status` with a machine `code`.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self { status, code, detail: detail.into(), issues: Vec::new(), headers: Vec::new() }
    }

    /// A server-side failure: logged in full, answered as a bare 500.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }

    /// Adds a response header (a value that is not a valid header is dropped).
    pub fn with_header(mut self, name: HeaderName, value: impl AsRef<str>) -> Self {
        if let Ok(value) = HeaderValue::from_str(value.as_ref()) {
            self.headers.push((name, value));
        }
        self
    }

    /// Attaches validation issues.
    pub fn with_issues(mut self, issues: Vec<Issue>) -> Self {
        self.issues = issues;
        self
    }

    /// The status it answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        let status = match &err {
            StoreError::NotFound { .. } => StatusCode::NOT_FOUND,
            StoreError::VersionConflict { .. }
            | StoreError::WrongStatus { .. }
            | StoreError::IllegalTransition(_)
            | StoreError::NameTaken { .. }
            | StoreError::UserTaken { .. }
            | StoreError::LastAdmin => StatusCode::CONFLICT,
            StoreError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let code = match &err {
            StoreError::NotFound { .. } => "not_found",
            StoreError::VersionConflict { .. } => "version_conflict",
            StoreError::WrongStatus { .. } | StoreError::IllegalTransition(_) => "wrong_status",
            StoreError::NameTaken { .. } | StoreError::UserTaken { .. } => "name_taken",
            StoreError::LastAdmin => "last_admin",
            StoreError::Refused(_) => "refused",
            _ => "internal",
        };
        let issues = if let StoreError::Refused(r) = &err { r.issues.clone() } else { Vec::new() };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            // Internal failures are logged, not described to the client.
            return Self::internal(describe(&err));
        }
        Self { status, code, detail: err.to_string(), issues, headers: Vec::new() }
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
                headers: Vec::new(),
            },
            EngineError::Generate(err) => Self::new(StatusCode::BAD_REQUEST, "invalid_parameter", err.to_string()),
            EngineError::Runtime(err) => {
                tracing::warn!(error = %describe(&err), "runtime failure");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "runtime_unavailable",
                    format!("the container runtime failed: {err}"),
                )
            }
            other => Self::internal(describe(&other)),
        }
    }
}

/// An error with its chain of causes, for the log.
fn describe(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "detail": self.detail, "error": self.code, "issues": self.issues });
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().extend(self.headers);
        response
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
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                e.status(),
                "body_too_large",
                format!("the request body is larger than {} bytes", crate::MAX_BODY_BYTES),
            )),
            Err(e) => Err(ApiError::new(e.status(), "malformed_body", e.body_text())),
        }
    }
}
