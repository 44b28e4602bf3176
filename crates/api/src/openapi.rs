//! The OpenAPI document, generated from the handlers' annotations, served at
//! `/api/v1/openapi.json` with an offline Swagger UI at `/api/docs`.
//!
//! The schemas are the handlers' own wire types ([`crate::wire`]). Every operation also
//! answers the one error body for any 4xx, and every operation but login and the probes
//! needs a bearer token: both are added here rather than repeated on each handler.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

/// Adds the bearer scheme, the global security requirement and the 4XX error body.
struct Conventions;

/// Operations anyone may call.
const OPEN: &[&str] = &["/healthz", "/readyz", "/api/v1/auth/login"];

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
        let error = ResponseBuilder::new()
            .description(
                "The one error body: a client error (bad input, no or bad token, role, missing, conflict, limits)",
            )
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("ErrorBody"))))
                    .build(),
            )
            .build();
        for (path, item) in openapi.paths.paths.iter_mut() {
            let open = OPEN.contains(&path.as_str());
            for operation in
                [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
            {
                operation.responses.responses.entry("4XX".into()).or_insert_with(|| RefOr::T(error.clone()));
                operation.security = Some(if open {
                    vec![SecurityRequirement::default()]
                } else {
                    vec![SecurityRequirement::new("bearer", Vec::<String>::new())]
                });
            }
        }
    }
}

/// The API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "DECNET API", description = "Design, deploy and live-edit deception networks."),
    paths(
        crate::topologies::healthz,
        crate::topologies::ready,
        crate::users::login,
        crate::users::logout,
        crate::users::me,
        crate::users::sse_ticket,
        crate::users::list,
        crate::users::create,
        crate::users::show,
        crate::users::update,
        crate::users::delete,
        crate::events::list,
        crate::events::stream,
        crate::topologies::list,
        crate::topologies::generate,
        crate::topologies::services,
        crate::topologies::service_schema,
        crate::topologies::archetypes,
        crate::design_tools::blank,
        crate::design_tools::next_subnet,
        crate::design_tools::reap_orphans,
        crate::topologies::import,
        crate::topologies::validate,
        crate::topologies::export,
        crate::topologies::show,
        crate::topologies::delete,
        crate::topologies::deploy,
        crate::topologies::teardown,
        crate::topologies::status_events,
        crate::topologies::mutations,
        crate::topologies::enqueue,
        crate::topologies::plan,
        crate::topologies::plan_all,
        crate::design::apply_edit,
        crate::design::add_lan,
        crate::design::update_lan,
        crate::design::remove_lan,
        crate::design::next_ip,
        crate::design::add_decky,
        crate::design::update_decky,
        crate::design::remove_decky,
        crate::design::add_edge,
        crate::design::remove_edge,
        crate::design::remove_edge_by_names,
        crate::layout::save,
        crate::decky_services::add_service,
        crate::decky_services::remove_service,
        crate::decky_services::save_config,
        crate::decky_services::apply_config,
        crate::decky_services::tarpit,
        crate::personas::show,
        crate::personas::replace,
        crate::placement::show,
        crate::placement::replace,
        crate::attackers::list,
        crate::attackers::show,
        crate::attackers::lures,
        crate::sinks::list,
        crate::sinks::status,
        crate::incidents::list,
    ),
    components(schemas(crate::wire::ErrorBody, crate::wire::StreamSnapshot, crate::wire::StreamEvent)),
    modifiers(&Conventions),
    tags(
        (name = "auth", description = "Login, logout, users"),
        (name = "topologies", description = "Topologies, their lifecycle and the mutation queue"),
        (name = "design", description = "Editing pending topologies"),
        (name = "events", description = "The event log and live stream"),
        (name = "attackers", description = "Each attacker's path through the mazes"),
        (name = "health", description = "Probes"),
        (name = "operations", description = "Sinks and incidents"),
    )
)]
pub struct ApiDoc;
