//! The web console: hand-written ES modules, CSS and SVG under `crates/api/console/`,
//! embedded in the binary and served at `/` (the page) and `/console/{file}`.
//!
//! Every console response carries a strict Content-Security-Policy: scripts, styles and
//! connections from this origin only, no inline script, no plugins, no framing. The
//! console renders attacker-written event fields as text; the policy is the second line of
//! defence should a bug ever let one through as markup.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

/// The console's Content-Security-Policy.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// One embedded file: its name under `/console/`, content type and bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset { name: $name, content_type: $type, body: include_str!(concat!("../console/", $name)) }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the console (a test checks none is missing).
static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("api.js", JS),
    asset!("app.js", JS),
    asset!("attackers.js", JS),
    asset!("dom.js", JS),
    asset!("editor.js", JS),
    asset!("geometry.js", JS),
    asset!("inspector.js", JS),
    asset!("layout.js", JS),
    asset!("list.js", JS),
    asset!("model.js", JS),
    asset!("panels.js", JS),
    asset!("sse.js", JS),
    asset!("staged.js", JS),
    asset!("state.js", JS),
];

/// `/` and `/console/{file}`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/", get(index)).route("/console/{file}", get(file))
}

async fn index() -> Response {
    serve("index.html")
}

async fn file(Path(name): Path<String>) -> Response {
    serve(&name)
}

fn serve(name: &str) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "no such console file")
            .into_response();
    };
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Small files, revalidated on each load so an upgraded server is picked up at once.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Total size of the console's files in bytes.
pub fn assets_size() -> usize {
    ASSETS.iter().map(|a| a.body.len()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_console_directory_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "package.json")
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.name.to_owned()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn the_console_stays_within_its_size_budget() {
        assert!(assets_size() <= 300 * 1024, "{} bytes", assets_size());
    }

    #[test]
    fn no_page_carries_inline_script() {
        let page = ASSETS.iter().find(|a| a.name == "index.html").map(|a| a.body).unwrap_or_default();
        for tag in page.split("<script").skip(1) {
            let head = tag.split('>').next().unwrap_or_default();
            assert!(head.contains("src="), "inline script: <script{head}>");
        }
        // No inline event handler attribute (` onload=`, ` onclick=`, ...).
        for (at, _) in page.match_indices(" on") {
            let rest = &page[at + 3..];
            let name_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            assert!(name_len == 0 || rest.as_bytes().get(name_len) != Some(&b'='), "inline handler near {at}");
        }
    }
}
