//! Authentication and authorisation: argon2 password hashes, signed bearer tokens (JWT,
//! HS256) with revocation, the `admin`/`viewer` roles, and login rate limits.
//!
//! The signing key is generated once and kept in the store, so tokens outlive a restart
//! and every replica of the API accepts every replica's tokens. A token names its user,
//! and each request reads the user's current record and the token's revocation from the
//! store (two lookups by key), so deleting or demoting a user or logging out takes effect
//! at once on every replica rather than when the user's tokens expire. Event-stream
//! tickets are kept in the store for the same reason.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};
use decnet_store::{Role, Store, StoreError, StreamTicket, User};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use rand::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::{ApiError, AppState};
use decnet_domain::ErrorKind;

/// The username of the first admin, created at first start.
pub const FIRST_ADMIN: &str = "admin";

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Settings of authentication.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// How long a token is valid.
    pub token_ttl: Duration,
    /// Login attempts allowed per source address per minute.
    pub logins_per_ip_per_minute: NonZeroU32,
    /// Login attempts allowed per username per minute.
    pub logins_per_user_per_minute: NonZeroU32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(12 * 3600),
            logins_per_ip_per_minute: NonZeroU32::new(30).unwrap_or(NonZeroU32::MIN),
            logins_per_user_per_minute: NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// Why authentication could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The first admin's password is unusable.
    #[error("DECNET_ADMIN_PASSWORD: {0}")]
    Password(String),
    /// Hashing failed.
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// What first start did about the first admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstAdmin {
    /// Users existed already; nothing was created.
    Existing,
    /// The admin was created with the password the operator gave.
    Created,
    /// The admin was created with this generated password, which is shown only now.
    Generated(String),
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Username.
    pub username: String,
    /// Current role.
    pub role: Role,
    /// The token's id (for logout).
    pub jti: String,
    /// When the token expires.
    pub expires_at: DateTime<Utc>,
}

impl Principal {
    /// 403 unless an admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Viewer => Err(forbidden()),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    jti: String,
    iat: i64,
    exp: i64,
}

/// The authentication state of a server.
pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    config: AuthConfig,
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_user: DefaultKeyedRateLimiter<String>,
    /// A hash verified when the username is unknown, so the answer takes as long as for
    /// a known user and does not tell which names exist.
    decoy_hash: String,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("config", &self.config).finish_non_exhaustive()
    }
}

/// How long an SSE ticket stays valid unused.
pub const TICKET_TTL: Duration = Duration::from_secs(30);

/// `bytes` random bytes from the OS, hex-encoded.
fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let mut buf = vec![0u8; bytes];
    rng.fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A generated password: 20 characters from an unambiguous alphabet (~115 bits).
fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::StdRng::from_os_rng();
    (0..20).map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char).collect()
}

/// Hashes a password with argon2id (default parameters), off the async threads.
pub async fn hash_password(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || Argon2::default().verify_password(password.as_bytes(), hash.as_str()).is_ok())
        .await
        .unwrap_or(false)
}

/// Checks a password against the policy.
pub fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(format!("must be at least {MIN_PASSWORD_LEN} characters"));
    }
    if password.len() > 1024 {
        return Err("must be at most 1024 bytes".into());
    }
    Ok(())
}

/// Checks a username: 1 to 64 of letters, digits, `.`, `_`, `-` and `@`.
pub fn check_username(username: &str) -> Result<(), String> {
    let ok = !username.is_empty()
        && username.len() <= 64
        && username.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if ok { Ok(()) } else { Err("must be 1-64 of letters, digits, '.', '_', '-' and '@'".into()) }
}

/// Creates the first admin if the store has no user: with `password` when given (from
/// `DECNET_ADMIN_PASSWORD`), else with a generated one that the caller must show once.
pub async fn ensure_first_admin(store: &dyn Store, password: Option<String>) -> Result<FirstAdmin, AuthSetupError> {
    if !store.users().await?.is_empty() {
        return Ok(FirstAdmin::Existing);
    }
    let (password, generated) = match password {
        Some(given) => {
            check_password(&given).map_err(AuthSetupError::Password)?;
            (given, false)
        }
        None => (generate_password(), true),
    };
    let now = Utc::now();
    let hash = hash_password(password.clone()).await.map_err(AuthSetupError::Hash)?;
    let user =
        User { username: FIRST_ADMIN.into(), password_hash: hash, role: Role::Admin, created_at: now, updated_at: now };
    Ok(match store.create_first_user(&user).await? {
        false => FirstAdmin::Existing,
        true if generated => FirstAdmin::Generated(password),
        true => FirstAdmin::Created,
    })
}

impl Auth {
    /// Loads the signing key from the store (creating it at first start).
    pub async fn load(store: &dyn Store, config: AuthConfig) -> Result<Self, AuthSetupError> {
        let secret = store.setting_or_insert("token_signing_key", &random_hex(32)).await?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let decoy_hash = hash_password(random_hex(16)).await.map_err(AuthSetupError::Hash)?;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            per_ip: RateLimiter::keyed(Quota::per_minute(config.logins_per_ip_per_minute)),
            per_user: RateLimiter::keyed(Quota::per_minute(config.logins_per_user_per_minute)),
            config,
            decoy_hash,
        })
    }

    /// Counts a login attempt against the source's and the username's limits.
    fn admit_login(&self, source: IpAddr, username: &str) -> Result<(), ApiError> {
        // Forget idle keys now and then, so a spray of addresses or names cannot grow memory.
        if self.per_ip.len() > 10_000 || self.per_user.len() > 10_000 {
            self.per_ip.retain_recent();
            self.per_user.retain_recent();
        }
        let now = DefaultClock::default().now();
        let limited = self
            .per_ip
            .check_key(&source)
            .err()
            .or_else(|| self.per_user.check_key(&username.to_owned()).err())
            .map(|not_until| not_until.wait_time_from(now));
        match limited {
            None => Ok(()),
            Some(wait) => {
                Err(ApiError::new(ErrorKind::RateLimited, "rate_limited", "too many login attempts; try again later")
                    .with_header(header::RETRY_AFTER, (wait.as_secs() + 1).to_string()))
            }
        }
    }

    /// Checks credentials and issues a token: (token, lifetime in seconds, role).
    pub(crate) async fn login(
        &self,
        store: &dyn Store,
        source: IpAddr,
        username: &str,
        password: &str,
    ) -> Result<(String, u64, Role), ApiError> {
        self.admit_login(source, username)?;
        let user = match store.user(username).await {
            Ok(user) => Some(user),
            Err(StoreError::NotFound { .. }) => None,
            Err(other) => return Err(other.into()),
        };
        let hash = user.as_ref().map_or_else(|| self.decoy_hash.clone(), |u| u.password_hash.clone());
        let verified = verify_password(password.to_owned(), hash).await;
        let Some(user) = user.filter(|_| verified) else {
            tracing::info!(%source, username, "login failed");
            return Err(unauthorized("invalid username or password"));
        };
        let now = Utc::now();
        let ttl = i64::try_from(self.config.token_ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            sub: user.username.clone(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            iat: now.timestamp(),
            exp: now.timestamp().saturating_add(ttl),
        };
        let token = jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::internal(format!("cannot sign a token: {e}")))?;
        tracing::info!(%source, username, "login");
        Ok((token, self.config.token_ttl.as_secs(), user.role))
    }

    /// The caller named by the request's bearer token, as the store has them now.
    pub async fn principal(&self, store: &dyn Store, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let value = headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("a bearer token is required (POST /api/v1/auth/login)"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| unauthorized("the Authorization header must be 'Bearer <token>'"))?;
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => unauthorized("the token has expired"),
                _ => unauthorized("the token is not valid"),
            })?
            .claims;
        let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(Utc::now);
        current(store, claims.sub, claims.jti, expires_at).await
    }

    /// A single-use ticket standing for `principal` for one event stream, redeemable on
    /// any replica within [`TICKET_TTL`].
    pub(crate) async fn issue_ticket(&self, store: &dyn Store, principal: &Principal) -> Result<String, ApiError> {
        let now = Utc::now();
        let ticket = StreamTicket {
            ticket: random_hex(24),
            username: principal.username.clone(),
            jti: principal.jti.clone(),
            token_expires_at: principal.expires_at,
            expires_at: now + TICKET_TTL,
        };
        store.issue_ticket(&ticket, now).await?;
        Ok(ticket.ticket)
    }

    /// The principal of an unexpired ticket, which is used up; its token's revocation and
    /// the user's current role apply as for the token itself.
    async fn redeem_ticket(&self, store: &dyn Store, ticket: &str) -> Result<Principal, ApiError> {
        let Some(found) = store.redeem_ticket(ticket, Utc::now()).await? else {
            return Err(unauthorized("the ticket is unknown, used or expired (POST /api/v1/auth/sse-ticket)"));
        };
        if found.token_expires_at <= Utc::now() {
            return Err(unauthorized("the token has expired"));
        }
        current(store, found.username, found.jti, found.token_expires_at).await
    }

    /// Revokes a token until it expires, for every replica.
    pub(crate) async fn revoke(&self, store: &dyn Store, principal: &Principal) -> Result<(), ApiError> {
        store.revoke_token(&principal.jti, principal.expires_at, Utc::now()).await?;
        Ok(())
    }
}

/// The principal of token `jti` of `username` as the store has them now: refused when the
/// token is revoked or the user is gone; with the user's current role.
async fn current(
    store: &dyn Store,
    username: String,
    jti: String,
    expires_at: DateTime<Utc>,
) -> Result<Principal, ApiError> {
    if store.is_revoked(&jti, Utc::now()).await? {
        return Err(unauthorized("the token has been revoked"));
    }
    let role = match store.user(&username).await {
        Ok(user) => user.role,
        Err(StoreError::NotFound { .. }) => return Err(unauthorized("the token's user no longer exists")),
        Err(other) => return Err(other.into()),
    };
    Ok(Principal { username, role, jti, expires_at })
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::new(ErrorKind::Unauthenticated, "unauthorized", detail).with_header(header::WWW_AUTHENTICATE, "Bearer")
}

fn forbidden() -> ApiError {
    ApiError::new(ErrorKind::Forbidden, "forbidden", "this needs the admin role")
}

/// Whether a viewer may make this request: reads, logging out, dry-run plans, and
/// changing their own password.
fn viewer_may(method: &Method, path: &str, username: &str) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || path == "/api/v1/auth/logout"
        || path == "/api/v1/auth/sse-ticket"
        || (method == Method::POST && path.ends_with("/mutations:plan"))
        || (method == Method::PATCH && path.strip_prefix("/api/v1/users/") == Some(username))
}

/// The `ticket` query parameter of a GET of a topology's event stream, the one place a
/// ticket stands for a token.
fn stream_ticket(request: &Request) -> Option<String> {
    let path = request.uri().path();
    if request.method() != Method::GET || !path.starts_with("/api/v1/topologies/") || !path.ends_with("/events") {
        return None;
    }
    request.uri().query()?.split('&').find_map(|pair| pair.strip_prefix("ticket=")).map(str::to_owned)
}

/// Middleware of every protected route: a valid token (401), and the admin role for
/// writes (403). Handlers find the [`Principal`] in the request's extensions.
pub(crate) async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let principal = match stream_ticket(&request) {
        Some(ticket) if !request.headers().contains_key(header::AUTHORIZATION) => {
            state.auth.redeem_ticket(state.engine.store().as_ref(), &ticket).await?
        }
        _ => state.auth.principal(state.engine.store().as_ref(), request.headers()).await?,
    };
    if principal.role == Role::Viewer && !viewer_may(request.method(), request.uri().path(), &principal.username) {
        return Err(forbidden());
    }
    request.extensions_mut().insert(Arc::new(principal));
    Ok(next.run(request).await)
}
