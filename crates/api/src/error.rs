//! The one error body: `{"detail": "<human message>", "error": "<code>", "issues": [...]}`.

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use decnet_domain::{ErrorKind, Issue};
use decnet_engine::EngineError;
use decnet_store::StoreError;

/// An error as the API answers it.
#[derive(Debug)]
pub struct ApiError {
    kind: ErrorKind,
    code: &'static str,
    detail: String,
    issues: Vec<Issue>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// The HTTP status of each kind of failure: the one place the API decides it.
pub fn http_status(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::InvalidBody | ErrorKind::Refused => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    /// A failure of `kind` with a machine `code`.
    pub fn new(kind: ErrorKind, code: &'static str, detail: impl Into<String>) -> Self {
        Self { kind, code, detail: detail.into(), issues: Vec::new(), headers: Vec::new() }
    }

    /// A server-side failure: logged in full, answered as a bare 500.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(ErrorKind::Internal, "internal", "internal error")
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
        http_status(self.kind)
    }
}

impl ApiError {
    /// The answer to a store error (internal ones logged and hidden).
    pub fn from_store(err: &StoreError) -> Self {
        let kind = err.kind();
        if kind == ErrorKind::Internal {
            // Internal failures are logged, not described to the client.
            return Self::internal(describe(err));
        }
        let code = match err {
            StoreError::NotFound { .. } => "not_found",
            StoreError::VersionConflict { .. } => "version_conflict",
            StoreError::WrongStatus { .. } | StoreError::IllegalTransition(_) => "wrong_status",
            StoreError::NameTaken { .. } | StoreError::UserTaken { .. } => "name_taken",
            StoreError::LastAdmin => "last_admin",
            _ => "refused",
        };
        let issues = if let StoreError::Refused(r) = err { r.issues.clone() } else { Vec::new() };
        Self { kind, code, detail: err.to_string(), issues, headers: Vec::new() }
    }

    /// The answer to an engine error (internal ones logged and hidden).
    pub fn from_engine(err: &EngineError) -> Self {
        let kind = err.kind();
        match err {
            EngineError::Store(store) => Self::from_store(store),
            EngineError::Refused(refusal) => {
                Self::new(kind, "refused", refusal.to_string()).with_issues(refusal.issues.clone())
            }
            EngineError::Generate(err) => Self::new(kind, "invalid_parameter", err.to_string()),
            EngineError::Runtime(err) => {
                tracing::warn!(error = %describe(err), "runtime failure");
                Self::new(kind, "runtime_unavailable", format!("the container runtime failed: {err}"))
            }
            other => Self::internal(describe(other)),
        }
    }

    /// The error body it answers with.
    pub fn body(&self) -> crate::wire::ErrorBody {
        crate::wire::ErrorBody {
            detail: self.detail.clone(),
            error: self.code.to_owned(),
            issues: crate::wire::issues(&self.issues),
            kind: self.kind.as_str().to_owned(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        Self::from_store(&err)
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        Self::from_engine(&err)
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
        let mut response = (self.status(), Json(self.body())).into_response();
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
            .map_err(|rejection| ApiError::new(ErrorKind::BadRequest, "invalid_parameter", rejection.body_text()))
    }
}

/// The answer to a path no route serves.
pub(crate) async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(ErrorKind::NotFound, "not_found", format!("no route for {}", uri.path()))
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
                Err(ApiError::new(ErrorKind::InvalidBody, "invalid_body", e.body_text()))
            }
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                ErrorKind::TooLarge,
                "body_too_large",
                format!("the request body is larger than {} bytes", crate::MAX_BODY_BYTES),
            )),
            Err(JsonRejection::MissingJsonContentType(e)) => {
                Err(ApiError::new(ErrorKind::UnsupportedMediaType, "unsupported_media_type", e.body_text()))
            }
            Err(e) => Err(ApiError::new(ErrorKind::BadRequest, "malformed_body", e.body_text())),
        }
    }
}
