//! `/api/v1/auth` (login, logout, whoami) and `/api/v1/users` (user management).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::Utc;
use decnet_store::{Role, User, UserChange};
use serde::Deserialize;

use crate::auth::{Principal, check_password, check_username, hash_password};
use crate::{ApiError, ApiJson, AppState, wire};
use decnet_domain::ErrorKind;

/// The protected routes of this module (login is mounted apart, without a token).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/me", get(me))
        .route("/api/v1/auth/sse-ticket", post(sse_ticket))
        .route("/api/v1/users", get(list).post(create))
        .route("/api/v1/users/{username}", get(show).patch(update).delete(delete))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    username: String,
    password: String,
}

/// `POST /api/v1/auth/login`: a bearer token for good credentials; 401 otherwise, 429
/// past the rate limits.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = wire::Token)))]
pub(crate) async fn login(
    State(state): State<AppState>,
    ConnectInfo(source): ConnectInfo<SocketAddr>,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<wire::Token>, ApiError> {
    let store = state.engine.store().as_ref();
    let (token, expires_in, role) = state.auth.login(store, source.ip(), &request.username, &request.password).await?;
    Ok(Json(wire::Token {
        access_token: token,
        token_type: "bearer".into(),
        expires_in,
        role: role.as_str().to_owned(),
    }))
}

/// A single-use ticket for one event stream (`GET .../events?ticket=`), valid for
/// [`crate::auth::TICKET_TTL`]: a browser's EventSource cannot send a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/sse-ticket", tag = "auth", responses((status = 201, body = wire::SseTicket)))]
pub(crate) async fn sse_ticket(
    State(state): State<AppState>,
    Extension(me): Extension<Arc<Principal>>,
) -> Result<Response, ApiError> {
    let ticket = state.auth.issue_ticket(state.engine.store().as_ref(), &me).await?;
    let body = wire::SseTicket { ticket, expires_in: crate::auth::TICKET_TTL.as_secs() };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Revokes the token of the request.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204, description = "Revoked")))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    Extension(me): Extension<Arc<Principal>>,
) -> Result<StatusCode, ApiError> {
    state.auth.revoke(state.engine.store().as_ref(), &me).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who the token belongs to.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", responses((status = 200, body = wire::Me)))]
pub(crate) async fn me(Extension(me): Extension<Arc<Principal>>) -> Json<wire::Me> {
    Json(wire::Me { username: me.username.clone(), role: me.role.as_str().to_owned(), expires_at: me.expires_at })
}

fn invalid(field: &str, why: String) -> ApiError {
    ApiError::new(ErrorKind::InvalidBody, "invalid_body", format!("{field}: {why}"))
}

/// Every user (admins only).
#[utoipa::path(get, path = "/api/v1/users", tag = "auth", responses((status = 200, body = Vec<wire::UserRow>)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(me): Extension<Arc<Principal>>,
) -> Result<Json<Vec<wire::UserRow>>, ApiError> {
    me.require_admin()?;
    let users = state.engine.store().users().await?;
    Ok(Json(users.iter().map(wire::UserRow::from).collect()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateUser {
    /// 1-64 of letters, digits, `.`, `_`, `-` and `@`.
    username: String,
    /// At least 8 characters.
    password: String,
    /// `admin` or `viewer` (the default).
    #[serde(default = "viewer")]
    #[schema(value_type = Option<String>)]
    role: Role,
}

fn viewer() -> Role {
    Role::Viewer
}

/// Creates a user (admins only).
#[utoipa::path(post, path = "/api/v1/users", tag = "auth", request_body = CreateUser,
    responses((status = 201, body = wire::UserRow)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(me): Extension<Arc<Principal>>,
    ApiJson(request): ApiJson<CreateUser>,
) -> Result<Response, ApiError> {
    me.require_admin()?;
    check_username(&request.username).map_err(|why| invalid("username", why))?;
    check_password(&request.password).map_err(|why| invalid("password", why))?;
    let hash = hash_password(request.password).await.map_err(ApiError::internal)?;
    let now = Utc::now();
    let user =
        User { username: request.username, password_hash: hash, role: request.role, created_at: now, updated_at: now };
    state.engine.store().create_user(&user).await?;
    Ok((StatusCode::CREATED, Json(wire::UserRow::from(&user))).into_response())
}

/// One user (admins, or the user themself).
#[utoipa::path(get, path = "/api/v1/users/{username}", tag = "auth", params(("username" = String, Path)),
    responses((status = 200, body = wire::UserRow)))]
pub(crate) async fn show(
    State(state): State<AppState>,
    Extension(me): Extension<Arc<Principal>>,
    Path(username): Path<String>,
) -> Result<Json<wire::UserRow>, ApiError> {
    if me.username != username {
        me.require_admin()?;
    }
    Ok(Json(wire::UserRow::from(&state.engine.store().user(&username).await?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateUser {
    /// A new password.
    #[serde(default)]
    password: Option<String>,
    /// A new role (admins only).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    role: Option<Role>,
}

/// Admins change anyone; a user may change their own password but not their role.
#[utoipa::path(patch, path = "/api/v1/users/{username}", tag = "auth", params(("username" = String, Path)),
    request_body = UpdateUser, responses((status = 200, body = wire::UserRow)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    Extension(me): Extension<Arc<Principal>>,
    Path(username): Path<String>,
    ApiJson(request): ApiJson<UpdateUser>,
) -> Result<Json<wire::UserRow>, ApiError> {
    if me.username != username || request.role.is_some_and(|r| r != me.role) {
        me.require_admin()?;
    }
    let password_hash = match request.password {
        Some(password) => {
            check_password(&password).map_err(|why| invalid("password", why))?;
            Some(hash_password(password).await.map_err(ApiError::internal)?)
        }
        None => None,
    };
    let change = UserChange { password_hash, role: request.role };
    let user = state.engine.store().update_user(&username, &change, Utc::now()).await?;
    Ok(Json(wire::UserRow::from(&user)))
}

/// Deletes a user (admins only; never the last admin).
#[utoipa::path(delete, path = "/api/v1/users/{username}", tag = "auth", params(("username" = String, Path)),
    responses((status = 204, description = "Deleted")))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Extension(me): Extension<Arc<Principal>>,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    me.require_admin()?;
    state.engine.store().delete_user(&username).await?;
    Ok(StatusCode::NO_CONTENT)
}
