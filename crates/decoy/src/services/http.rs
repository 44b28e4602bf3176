//! `http`: HTTP/1.x with a web-server persona and optional fake applications.
//!
//! Requests are framed with `httparse` (incomplete vs malformed) and a bounded
//! `Content-Length` body; keep-alive as HTTP/1.1 does it. Every request is an event with
//! method, path, headers, user agent and a body excerpt; credentials from Basic auth and
//! from login forms are `auth_attempt` events. `fake_app` picks what answers: a default
//! server page (`none`), WordPress, phpMyAdmin, Tomcat (manager behind Basic auth) or
//! Jenkins, each with a believable login page that never lets anyone in.
//!
//! `https` is the same server behind TLS with the persona's certificate (CN `tls_cn`, by
//! default the host name) or the operator's `tls_cert`/`tls_key`; the handshake (SNI,
//! version, ALPN) is a `handshake` event, a client that is not speaking TLS a violation.

use base64::Engine as _;

use crate::config::Config;
use crate::event::{Fields, Kind, Secret, printable};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End, Parse};

mod pages;
use pages::{TOMCAT_401, TOMCAT_HOME, jenkins_login, phpmyadmin_login, wordpress_home, wordpress_login};

/// Most headers in one request.
const MAX_HEADERS: usize = 64;
/// Body bytes kept in the event.
const BODY_EXCERPT: usize = 512;

/// Which application the decoy presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum App {
    None,
    WordPress,
    PhpMyAdmin,
    Tomcat,
    Jenkins,
}

/// The http decoy.
#[derive(Debug)]
pub struct Http {
    server: String,
    status: u16,
    app: App,
    extra_headers: Vec<(String, String)>,
    custom_body: Option<String>,
    hostname: String,
}

/// A parsed request head.
#[derive(Debug, PartialEq, Eq)]
pub struct Head {
    /// Method.
    pub method: String,
    /// Request target.
    pub path: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// Headers in wire order.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Head {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
    }

    /// [`Head::header`] as text.
    pub fn header_str(&self, name: &str) -> Option<String> {
        self.header(name).map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

/// Parses a request head.
pub fn parse(buf: &[u8]) -> Parse<Head> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(buf) {
        Ok(httparse::Status::Partial) => Parse::Incomplete,
        Ok(httparse::Status::Complete(used)) => Parse::Done(
            Head {
                method: request.method.unwrap_or("GET").to_owned(),
                path: request.path.unwrap_or("/").to_owned(),
                minor: request.version.unwrap_or(1),
                headers: request.headers.iter().map(|h| (h.name.to_owned(), h.value.to_vec())).collect(),
            },
            used,
        ),
        Err(err) => Parse::Invalid(format!("malformed request: {err}")),
    }
}

/// Percent-decodes a form value (`+` is a space); a broken escape is kept as it is.
fn form_decode(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let escaped = value
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match escaped {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    out
}

/// The fields of a urlencoded form.
fn form(body: &[u8]) -> Vec<(String, Vec<u8>)> {
    body.split(|&b| b == b'&')
        .filter_map(|pair| {
            let mut parts = pair.splitn(2, |&b| b == b'=');
            let key = String::from_utf8_lossy(&form_decode(parts.next()?)).to_ascii_lowercase();
            Some((key, form_decode(parts.next().unwrap_or_default())))
        })
        .take(64)
        .collect()
}

/// Form field names that carry a user name or a password.
const USER_FIELDS: &[&str] =
    &["log", "user", "username", "login", "email", "pma_username", "j_username", "uname", "name"];
const PASSWORD_FIELDS: &[&str] = &["pwd", "pass", "password", "passwd", "pma_password", "j_password", "secret"];

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

impl Http {
    /// The decoy for `persona` with `config`.
    pub fn new(persona: &Persona, config: &Config) -> Self {
        let app = match config.string("fake_app") {
            Some("wordpress") => App::WordPress,
            Some("phpmyadmin") => App::PhpMyAdmin,
            Some("tomcat") => App::Tomcat,
            Some("jenkins") => App::Jenkins,
            _ => App::None,
        };
        let extra_headers = config
            .string("extra_headers")
            .map(|text| {
                text.lines()
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                    .filter(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic()))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            server: config.string("server_header").unwrap_or(persona.http_server).to_owned(),
            status: config
                .int("response_code")
                .and_then(|c| u16::try_from(c).ok())
                .filter(|c| (100..600).contains(c))
                .unwrap_or(200),
            app,
            extra_headers,
            custom_body: config.string("custom_body").map(str::to_owned),
            hostname: persona.hostname.clone(),
        }
    }

    fn is_nginx(&self) -> bool {
        self.server.to_ascii_lowercase().starts_with("nginx")
    }

    fn error_page(&self, status: u16, reason: &str) -> String {
        if self.is_nginx() {
            let server = self.server.split(' ').next().unwrap_or("nginx");
            format!(
                "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n\
                 <hr><center>{server}</center>\r\n</body>\r\n</html>\r\n"
            )
        } else {
            format!(
                "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>{status} {reason}</title>\n</head><body>\n\
                 <h1>{reason}</h1>\n<p>The requested URL was not found on this server.</p>\n<hr>\n<address>{} Server at {} Port 80</address>\n\
                 </body></html>\n",
                escape_html(&self.server),
                escape_html(&self.hostname)
            )
        }
    }

    fn default_page(&self) -> String {
        if self.is_nginx() {
            "<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n<style>\nhtml { color-scheme: light dark; }\n\
             body { width: 35em; margin: 0 auto;\nfont-family: Tahoma, Verdana, Arial, sans-serif; }\n</style>\n</head>\n<body>\n\
             <h1>Welcome to nginx!</h1>\n<p>If you see this page, the nginx web server is successfully installed and\nworking. \
             Further configuration is required.</p>\n\n<p>For online documentation and support please refer to\n\
             <a href=\"http://nginx.org/\">nginx.org</a>.<br/>\nCommercial support is available at\n\
             <a href=\"http://nginx.com/\">nginx.com</a>.</p>\n\n<p><em>Thank you for using nginx.</em></p>\n</body>\n</html>\n"
                .to_owned()
        } else {
            format!(
                "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n\
                 <html xmlns=\"http://www.w3.org/1999/xhtml\">\n  <head>\n    <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n\
                 <title>Apache2 Default Page: It works</title>\n  </head>\n  <body>\n    <div class=\"main_page\">\n\
                 <div class=\"page_header floating_element\">Apache2 Default Page</div>\n\
                 <div class=\"section_header\">It works!</div>\n<p>This is the default welcome page used to test the correct operation of the Apache2 server \
                 after installation on {} systems.</p>\n    </div>\n  </body>\n</html>\n",
                if self.server.contains("Ubuntu") { "Ubuntu" } else { "Debian" }
            )
        }
    }

    /// The answer to a request: status, extra headers, body.
    fn route(&self, head: &Head, failed_login: Option<&str>) -> (u16, Vec<(String, String)>, String) {
        let path = head.path.split('?').next().unwrap_or("/");
        let html = || vec![("Content-Type".to_owned(), "text/html; charset=UTF-8".to_owned())];
        match self.app {
            App::None => match path {
                "/" | "/index.html" => {
                    (self.status, html(), self.custom_body.clone().unwrap_or_else(|| self.default_page()))
                }
                _ => (404, html(), self.error_page(404, "Not Found")),
            },
            App::WordPress => match path {
                "/wp-login.php" => (200, html(), wordpress_login(&self.hostname, failed_login)),
                "/wp-admin" | "/wp-admin/" => (
                    302,
                    vec![("Location".into(), "/wp-login.php?redirect_to=%2Fwp-admin%2F&reauth=1".into())],
                    String::new(),
                ),
                "/xmlrpc.php" if head.method == "POST" => (
                    200,
                    vec![("Content-Type".into(), "text/xml; charset=UTF-8".into())],
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodResponse><fault><value><struct><member><name>faultCode</name>\
                     <value><int>403</int></value></member><member><name>faultString</name><value><string>Incorrect username or password.\
                     </string></value></member></struct></value></fault></methodResponse>\n"
                        .into(),
                ),
                "/xmlrpc.php" => (405, html(), "XML-RPC server accepts POST requests only.".into()),
                "/" | "/index.php" => (200, html(), wordpress_home(&self.hostname)),
                _ => (404, html(), self.error_page(404, "Not Found")),
            },
            App::PhpMyAdmin => match path {
                "/" | "/index.php" | "/phpmyadmin" | "/phpmyadmin/" | "/phpmyadmin/index.php" => {
                    (200, html(), phpmyadmin_login(failed_login))
                }
                _ => (404, html(), self.error_page(404, "Not Found")),
            },
            App::Tomcat => match path {
                "/" | "/index.jsp" => (200, html(), TOMCAT_HOME.into()),
                p if p.starts_with("/manager") || p.starts_with("/host-manager") => (
                    401,
                    vec![
                        ("WWW-Authenticate".into(), "Basic realm=\"Tomcat Manager Application\"".into()),
                        ("Content-Type".into(), "text/html;charset=ISO-8859-1".into()),
                    ],
                    TOMCAT_401.into(),
                ),
                _ => (404, html(), self.error_page(404, "Not Found")),
            },
            App::Jenkins => match path {
                "/login" | "/loginError" => (200, html(), jenkins_login(failed_login.is_some() || path == "/loginError")),
                "/j_spring_security_check" | "/j_acegi_security_check" => {
                    (302, vec![("Location".into(), "/loginError".into())], String::new())
                }
                _ => (
                    403,
                    vec![("X-Hudson".into(), "1.395".into()), ("X-Jenkins".into(), "2.440.3".into())],
                                            "<html><head><meta http-equiv='refresh' content='1;url=/login?from=%2F'/><script>window.location.replace('/login?from=%2F');\
                         </script></head><body style='background-color:white; color:white;'>\n\nAuthentication required\n<!--\n\
                         You are authenticated as: anonymous\nGroups that you are in:\n\nPermission you need to have (but didn't): \
                         hudson.model.Hudson.Read\n -->\n\n</body></html>".to_owned(),
                ),
            },
        }
    }

    fn response(&self, head: &Head, status: u16, headers: Vec<(String, String)>, body: &str, close: bool) -> Vec<u8> {
        let reason = reason(status);
        let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT");
        let mut out =
            format!("HTTP/1.{} {status} {reason}\r\nServer: {}\r\nDate: {date}\r\n", head.minor.min(1), self.server);
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-type")) {
            out.push_str("Content-Type: text/html\r\n");
        }
        for (name, value) in headers.iter().chain(self.extra_headers.iter()) {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
        out.push_str(if close { "Connection: close\r\n\r\n" } else { "Connection: keep-alive\r\n\r\n" });
        let mut bytes = out.into_bytes();
        if head.method != "HEAD" {
            bytes.extend_from_slice(body.as_bytes());
        }
        bytes
    }
}

/// The reason phrase of `status`.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Request Entity Too Large",
        500 => "Internal Server Error",
        201 => "Created",
        503 => "Service Unavailable",
        _ => "OK",
    }
}

/// Credentials in a request: Basic auth, or a login form's fields.
pub(crate) fn credentials(head: &Head, body: &[u8]) -> Option<(&'static str, Vec<u8>, Vec<u8>)> {
    if let Some(value) = head.header("authorization") {
        let text = String::from_utf8_lossy(value);
        if let Some(encoded) = text.strip_prefix("Basic ").or_else(|| text.strip_prefix("basic ")) {
            let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).unwrap_or_default();
            let (user, pass) = match decoded.iter().position(|&b| b == b':') {
                Some(i) => (decoded[..i].to_vec(), decoded[i + 1..].to_vec()),
                None => (decoded, Vec::new()),
            };
            return Some(("basic", user, pass));
        }
    }
    let is_form = head.header("content-type").is_some_and(|v| {
        String::from_utf8_lossy(v).to_ascii_lowercase().starts_with("application/x-www-form-urlencoded")
    });
    if is_form && !body.is_empty() {
        let fields = form(body);
        let find = |names: &[&str]| fields.iter().find(|(k, _)| names.contains(&k.as_str())).map(|(_, v)| v.clone());
        if let Some(pass) = find(PASSWORD_FIELDS) {
            return Some(("form", find(USER_FIELDS).unwrap_or_default(), pass));
        }
    }
    // WordPress XML-RPC logins carry the pair inside the call.
    if head.path.starts_with("/xmlrpc.php") {
        let text = String::from_utf8_lossy(body);
        let strings: Vec<&str> = text.split("<string>").skip(1).filter_map(|s| s.split("</string>").next()).collect();
        if strings.len() >= 2 {
            return Some(("xmlrpc", strings[0].as_bytes().to_vec(), strings[1].as_bytes().to_vec()));
        }
    }
    None
}

/// The `https` decoy: [`Http`] behind TLS.
pub struct Https {
    http: Http,
    tls: crate::tls::Acceptor,
}

impl Https {
    /// The decoy for `persona` with `config`; an operator's PEM pair that does not parse
    /// is an error naming the key.
    pub fn new(persona: &Persona, config: &Config) -> Result<Self, crate::tls::TlsError> {
        let subject = crate::tls::Subject {
            common_name: config.string("tls_cn").unwrap_or(&persona.hostname).to_owned(),
            alt_names: vec![config.string("tls_cn").unwrap_or(&persona.hostname).to_owned()],
            valid_days: 365,
        };
        let pem = config.string("tls_cert").zip(config.string("tls_key"));
        // Only HTTP/1.1 is spoken: offering h2 would promise what the decoy cannot keep.
        let tls = crate::tls::acceptor(persona, &subject, pem, &[b"http/1.1"])?;
        Ok(Self { http: Http::new(persona, config), tls })
    }
}

impl Decoy for Https {
    fn name(&self) -> &'static str {
        "https"
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        match conn.start_tls(&self.tls).await {
            Ok(()) => self.http.serve(conn).await,
            Err(end) => end,
        }
    }
}

/// A request with its body, as [`next_request`] read it.
#[derive(Debug)]
pub(crate) struct Request {
    /// The head.
    pub head: Head,
    /// The body (`Content-Length` bytes, at most [`crate::server::Limits::max_frame`]).
    pub body: Vec<u8>,
    /// Whether the connection ends after the answer (HTTP/1.0, `Connection: close`).
    pub close: bool,
}

/// What [`next_request`] read.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A whole request.
    Request(Request),
    /// A head whose body cannot be read (too large, a bad length, chunked): answer this
    /// status and close.
    Refused(Head, u16),
    /// Not HTTP (the violation is recorded): answer 400 and close.
    Malformed,
}

/// Reads the next request of a keep-alive connection and records it as a `request` event
/// (method, path, headers, user agent, a body excerpt). Shared by every decoy that speaks
/// HTTP (http, elasticsearch, docker_api, conpot's web page).
pub(crate) async fn next_request(conn: &mut Conn) -> Result<Incoming, End> {
    let head = match conn.frame(parse).await {
        Ok(head) => head,
        Err(End::Violation) => return Ok(Incoming::Malformed),
        Err(end) => return Err(end),
    };
    let length = head.header_str("content-length").map(|v| v.trim().parse::<usize>());
    let chunked = head.header_str("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let close = head.minor == 0 || head.header_str("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let mut body = Vec::new();
    let mut refused = None;
    match length {
        Some(Ok(n)) if n > conn.limits().max_frame => refused = Some(413),
        Some(Ok(n)) => {
            body = conn
                .frame(|buf| if buf.len() >= n { Parse::Done(buf[..n].to_vec(), n) } else { Parse::Incomplete })
                .await?;
        }
        Some(Err(_)) => refused = Some(400),
        None if chunked => refused = Some(411),
        None => {}
    }
    let headers: serde_json::Map<String, serde_json::Value> = head
        .headers
        .iter()
        .take(32)
        .map(|(n, v)| (n.to_ascii_lowercase(), serde_json::Value::from(printable(v))))
        .collect();
    let mut fields = Fields::default()
        .command(format!("{} {}", head.method, head.path))
        .detail("method", head.method.as_str())
        .detail("path", head.path.as_str())
        .detail("version", format!("HTTP/1.{}", head.minor))
        .detail("headers", headers);
    if let Some(agent) = head.header("user-agent") {
        fields = fields.detail("user_agent", printable(agent));
    }
    if !body.is_empty() {
        fields =
            fields.detail("body", printable(&body[..body.len().min(BODY_EXCERPT)])).detail("body_bytes", body.len());
    }
    conn.log.record(Kind::Request, fields).await;
    Ok(match refused {
        Some(status) => Incoming::Refused(head, status),
        None => Incoming::Request(Request { head, body, close }),
    })
}

/// Records Basic-auth, form or XML-RPC credentials of a request as an `auth_attempt`;
/// the user name, if there were any.
pub(crate) async fn record_credentials(conn: &Conn, head: &Head, body: &[u8]) -> Option<String> {
    let (source, user, pass) = credentials(head, body)?;
    let fields = Fields::default()
        .principal(&user)
        .secret(Secret::password(&pass))
        .detail("source", source)
        .detail("path", head.path.as_str());
    conn.log.record(Kind::AuthAttempt, fields).await;
    Some(printable(&user))
}

impl Decoy for Http {
    fn name(&self) -> &'static str {
        "http"
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        loop {
            let (head, body, close, status_override) = match next_request(conn).await {
                Ok(Incoming::Request(Request { head, body, close })) => (head, body, close, None),
                Ok(Incoming::Refused(head, status)) => (head, Vec::new(), true, Some(status)),
                Ok(Incoming::Malformed) => {
                    let fake = Head { method: "GET".into(), path: "/".into(), minor: 1, headers: Vec::new() };
                    let _ = conn
                        .write(&self.response(&fake, 400, Vec::new(), &self.error_page(400, "Bad Request"), true))
                        .await;
                    return End::Violation;
                }
                Err(end) => return end,
            };
            let failed_user = record_credentials(conn, &head, &body).await;
            let reply = match status_override {
                Some(status) => {
                    self.response(&head, status, Vec::new(), &self.error_page(status, reason(status)), true)
                }
                None => {
                    let (status, headers, page) = self.route(&head, failed_user.as_deref());
                    self.response(&head, status, headers, &page, close)
                }
            };
            if conn.write(&reply).await.is_err() {
                return End::Io;
            }
            if close || status_override.is_some() {
                return End::Done;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn request_heads_parse_and_truncation_asks_for_more() {
        let raw = b"GET /wp-login.php?x=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: curl/7.88\r\n\r\n";
        let Parse::Done(head, used) = parse(raw) else { panic!("a head") };
        assert_eq!(
            (head.method.as_str(), head.path.as_str(), head.minor, used),
            ("GET", "/wp-login.php?x=1", 1, raw.len())
        );
        for cut in 0..raw.len() {
            assert_eq!(parse(&raw[..cut]), Parse::Incomplete, "cut at {cut}");
        }
        assert!(matches!(parse(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"), Parse::Invalid(_)));
        assert!(matches!(parse(b"\x16\x03\x01\x02\x00"), Parse::Invalid(_)));
    }

    #[test]
    fn credentials_come_from_basic_auth_forms_and_xmlrpc() {
        let head = |headers: Vec<(&str, &str)>, path: &str| Head {
            method: "POST".into(),
            path: path.into(),
            minor: 1,
            headers: headers.into_iter().map(|(n, v)| (n.to_owned(), v.as_bytes().to_vec())).collect(),
        };
        let basic = head(vec![("Authorization", "Basic YWRtaW46czNjcjN0")], "/manager/html");
        assert_eq!(credentials(&basic, b""), Some(("basic", b"admin".to_vec(), b"s3cr3t".to_vec())));
        let form_head = head(vec![("Content-Type", "application/x-www-form-urlencoded")], "/wp-login.php");
        let found = credentials(&form_head, b"log=admin&pwd=p%40ss+word&wp-submit=Log+In");
        assert_eq!(found, Some(("form", b"admin".to_vec(), b"p@ss word".to_vec())));
        let rpc = head(vec![], "/xmlrpc.php");
        let call = b"<methodCall><methodName>wp.getUsersBlogs</methodName><params><param><value><string>bob</string></value></param>\
                     <param><value><string>hunter2</string></value></param></params></methodCall>";
        assert_eq!(credentials(&rpc, call), Some(("xmlrpc", b"bob".to_vec(), b"hunter2".to_vec())));
        assert_eq!(form_decode(b"%zz%4"), b"%zz%4".to_vec(), "bad escapes are kept, not a crash");
    }
}
