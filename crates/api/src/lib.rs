//! DECNET's HTTP API: the only crate that knows HTTP.
//!
//! Handlers read through the store and write through the engine (desired state and queue
//! entries; accounts through the store's `Accounts`); none touches the runtime. Every body
//! is a type of [`wire`], in the original API's shapes. Every error has one body shape,
//! `{"detail", "error", "issues", "kind"}`, where `detail` keeps clients of the original
//! working. Every route but login, `/healthz` and `/readyz` needs a bearer token
//! ([`auth`]); a topology's event stream also takes a single-use `?ticket=`. The web
//! console's static files are served at `/` ([`console`]).

mod attackers;
pub mod auth;
mod cache;
pub mod console;
mod decky_services;
mod design;
mod design_tools;
mod error;
pub mod events;
mod incidents;
mod layout;
mod metrics;
pub mod openapi;
mod personas;
mod placement;
mod sinks;
mod topologies;
mod users;
pub mod wire;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use decnet_engine::Engine;

pub use auth::{Auth, AuthConfig, FirstAdmin};
pub use design_tools::reap_report;
pub use error::{ApiError, ApiJson, ApiQuery, http_status};

/// Largest request body accepted (413 beyond): a whole imported topology fits easily.
pub const MAX_BODY_BYTES: usize = 4 << 20;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The engine (and through it, the store).
    pub engine: Engine,
    /// Tokens, users' roles, login limits.
    pub auth: Arc<Auth>,
    /// Open event streams per user.
    pub streams: Arc<events::Streams>,
    /// Serialized topology bodies.
    pub bodies: Arc<cache::BodyCache>,
    /// The sinks this process runs (none unless configured).
    pub sinks: Arc<decnet_engine::Sinks>,
    /// HTTP requests answered, for `GET /metrics`.
    pub http: metrics::HttpMetrics,
}

impl AppState {
    /// The state of a server over `engine` with `auth`, and default stream limits.
    pub fn new(engine: Engine, auth: Arc<Auth>) -> Self {
        Self {
            engine,
            auth,
            streams: Arc::default(),
            bodies: Arc::default(),
            sinks: Arc::default(),
            http: metrics::HttpMetrics::default(),
        }
    }

    /// The same state, reporting `sinks`.
    pub fn with_sinks(self, sinks: Arc<decnet_engine::Sinks>) -> Self {
        Self { sinks, ..self }
    }
}

/// The API router.
pub fn router(state: AppState) -> Router {
    let protected = Router::new()
        .nest("/api/v1/topologies", topologies::routes())
        .merge(users::routes())
        .merge(events::routes())
        .merge(attackers::routes())
        .merge(sinks::routes())
        .merge(incidents::routes())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate));
    Router::new()
        .route("/healthz", get(topologies::healthz))
        .route("/readyz", get(topologies::ready))
        .route("/metrics", get(metrics::metrics))
        // The console's files carry no data, so they need no token (its API calls do).
        .merge(console::routes())
        .route("/api/v1/auth/login", post(users::login))
        .merge(protected)
        // The document and its viewer carry no data, so they need no token.
        .merge(utoipa_swagger_ui::SwaggerUi::new("/api/docs").url("/api/v1/openapi.json", {
            use utoipa::OpenApi as _;
            openapi::ApiDoc::openapi()
        }))
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::count))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes the requests in
/// flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
