//! The HTTP client of the admin commands, and their errors with the exit codes they end with.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

/// Why an admin command failed; each kind ends the process with its own exit code (see
/// [`CliError::exit_code`] and docs/cli.md).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line asks for something impossible (clap's own usage errors exit 2 too).
    #[error("{0}")]
    Usage(String),
    /// The server answered 404: no such key, team, model, ...
    #[error("{0}")]
    NotFound(String),
    /// The server answered 401 or 403: missing or wrong admin token.
    #[error("{0}")]
    Unauthorized(String),
    /// The server refused the request as invalid or conflicting (400, 409, 413, 415, 422, ...).
    #[error("{0}")]
    Invalid(String),
    /// The server could not be reached (connection refused, DNS, timeout).
    #[error("{0}")]
    Unreachable(String),
    /// Anything else: a server error (5xx), an answer that is not what the API promises.
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// The process exit code: 1 other, 2 usage, 3 not found, 4 unauthorized, 5 invalid or
    /// conflict, 6 server unreachable.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Other(_) => 1,
            CliError::Usage(_) => 2,
            CliError::NotFound(_) => 3,
            CliError::Unauthorized(_) => 4,
            CliError::Invalid(_) => 5,
            CliError::Unreachable(_) => 6,
        }
    }
}

/// The exit code of a failed command: an admin command's own, else 1.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    error
        .downcast_ref::<CliError>()
        .map_or(1, CliError::exit_code)
}

/// The message of an error answer, from either error shape the server speaks: OpenAI's
/// `{"error": {"message", "type", "param", "code"}}` (the admin API's) or Anthropic's
/// `{"type": "error", "error": {"type", "message"}}`; the start of the text otherwise.
pub fn error_message(status: StatusCode, body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let error = parsed.as_ref().map(|v| &v["error"]);
    let message = error.and_then(|e| e["message"].as_str().or_else(|| e.as_str()));
    let Some(message) = message else {
        let text: String = body.trim().chars().take(300).collect();
        return if text.is_empty() {
            format!("the server answered {status}")
        } else {
            format!("the server answered {status}: {text}")
        };
    };
    let error = error.expect("a message comes from an error");
    let code = error["code"].as_str().or_else(|| error["type"].as_str());
    let param = error["param"].as_str().filter(|p| !p.is_empty());
    let mut detail = vec![format!("HTTP {}", status.as_u16())];
    if let Some(code) = code {
        detail.insert(0, code.to_string());
    }
    if let Some(param) = param {
        detail.push(format!("field {param}"));
    }
    format!("{message} ({})", detail.join(", "))
}

/// The error of an answer with a non-2xx status.
fn answer_error(status: StatusCode, body: &str, had_token: bool) -> CliError {
    let message = error_message(status, body);
    match status.as_u16() {
        404 => CliError::NotFound(message),
        401 | 403 if !had_token => CliError::Unauthorized(format!(
            "{message}; no admin token was given: pass --admin-token or set TOLLGATE_ADMIN_TOKEN"
        )),
        401 | 403 => CliError::Unauthorized(message),
        400 | 409 | 413 | 415 | 422 => CliError::Invalid(message),
        _ => CliError::Other(message),
    }
}

/// A successful answer: its status and body, as text (printed unchanged by `--output json`)
/// and parsed.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub text: String,
    pub json: Value,
}

/// The admin API at one base URL, with the admin token.
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
}

impl Client {
    pub fn new(url: &str, token: Option<String>) -> Result<Self, CliError> {
        let base = Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "--url {url}: expected the server's http(s) URL, e.g. http://127.0.0.1:8080"
                ))
            })?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("tollgate-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Other(format!("building the HTTP client: {e}")))?;
        let token = token.filter(|t| !t.is_empty());
        Ok(Client { http, base, token })
    }

    /// The URL of a path given as segments, each percent-encoded on its own (a model id with
    /// `/` stays one segment, as `%2F`), below the base URL's own path.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.path_segments_mut()
            .expect("an http(s) URL has a path")
            .pop_if_empty()
            .extend(segments);
        url
    }

    /// Sends a request and returns the answer, or the error its status means.
    pub async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Answer, CliError> {
        let (status, text) = self.send_raw(method.clone(), segments, query, body).await?;
        self.answer(&method, segments, status, text)
    }

    /// The answer of a request, or the error its status means.
    pub fn answer(
        &self,
        method: &Method,
        segments: &[&str],
        status: StatusCode,
        text: String,
    ) -> Result<Answer, CliError> {
        if !status.is_success() {
            return Err(answer_error(status, &text, self.token.is_some()));
        }
        let json = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|e| {
                CliError::Other(format!(
                    "{method} {}: the answer is not JSON ({e}); is {} a Tollgate server?",
                    self.url(segments),
                    self.base
                ))
            })?
        };
        Ok(Answer { status, text, json })
    }

    /// Sends a request; any answer is returned with its status, only a failure to get one is
    /// an error.
    pub async fn send_raw(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(StatusCode, String), CliError> {
        let mut url = self.url(segments);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut request = self.http.request(method.clone(), url.clone());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| unreachable(&url, &e))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| CliError::Other(format!("{method} {url}: reading the answer: {e}")))?;
        Ok((status, text))
    }

    pub async fn get(&self, segments: &[&str]) -> Result<Answer, CliError> {
        self.send(Method::GET, segments, &[], None).await
    }

    pub async fn get_query(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Answer, CliError> {
        self.send(Method::GET, segments, query, None).await
    }

    pub async fn post(&self, segments: &[&str], body: &Value) -> Result<Answer, CliError> {
        self.send(Method::POST, segments, &[], Some(body)).await
    }

    pub async fn patch(&self, segments: &[&str], body: &Value) -> Result<Answer, CliError> {
        self.send(Method::PATCH, segments, &[], Some(body)).await
    }

    pub async fn put(&self, segments: &[&str], body: &Value) -> Result<Answer, CliError> {
        self.send(Method::PUT, segments, &[], Some(body)).await
    }

    pub async fn delete(&self, segments: &[&str]) -> Result<Answer, CliError> {
        self.send(Method::DELETE, segments, &[], None).await
    }
}

/// The error of a request that got no answer.
fn unreachable(url: &Url, e: &reqwest::Error) -> CliError {
    let mut origin = url.clone();
    origin.set_path("");
    origin.set_query(None);
    let why = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        "request failed".to_string()
    };
    // reqwest's own message names the cause (connection refused, DNS, TLS, ...).
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    let cause = if cause.is_empty() {
        e.to_string()
    } else {
        cause
    };
    CliError::Unreachable(format!(
        "{why} to {} ({cause}); is the server running there? (--url or TOLLGATE_URL)",
        origin.as_str().trim_end_matches('/')
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_error_shapes_give_their_message() {
        let openai = r#"{"error":{"message":"key 'k' does not exist","type":"not_found_error","param":null,"code":"key_not_found"}}"#;
        assert_eq!(
            error_message(StatusCode::NOT_FOUND, openai),
            "key 'k' does not exist (key_not_found, HTTP 404)"
        );
        let field = r#"{"error":{"message":"kind is grant or refund","type":"invalid_request_error","param":"kind","code":"invalid_field"}}"#;
        assert_eq!(
            error_message(StatusCode::BAD_REQUEST, field),
            "kind is grant or refund (invalid_field, HTTP 400, field kind)"
        );
        let anthropic =
            r#"{"type":"error","error":{"type":"authentication_error","message":"bad token"}}"#;
        assert_eq!(
            error_message(StatusCode::UNAUTHORIZED, anthropic),
            "bad token (authentication_error, HTTP 401)"
        );
        assert_eq!(
            error_message(StatusCode::BAD_GATEWAY, "<html>bad gateway</html>"),
            "the server answered 502 Bad Gateway: <html>bad gateway</html>"
        );
        assert_eq!(
            error_message(StatusCode::INTERNAL_SERVER_ERROR, ""),
            "the server answered 500 Internal Server Error"
        );
    }

    #[test]
    fn statuses_map_to_exit_codes() {
        let code = |s: u16, token: bool| {
            answer_error(StatusCode::from_u16(s).unwrap(), "", token).exit_code()
        };
        assert_eq!(code(404, true), 3);
        assert_eq!(code(401, true), 4);
        assert_eq!(code(403, false), 4);
        for s in [400, 409, 413, 415, 422] {
            assert_eq!(code(s, true), 5, "{s}");
        }
        assert_eq!(code(500, true), 1);
        assert_eq!(code(503, true), 1);
        assert!(answer_error(StatusCode::UNAUTHORIZED, "", false)
            .to_string()
            .contains("TOLLGATE_ADMIN_TOKEN"));
    }

    #[test]
    fn path_segments_are_encoded_one_by_one() {
        let c = Client::new("http://127.0.0.1:8080", None).unwrap();
        assert_eq!(
            c.url(&["admin", "models", "openai/gpt-4o mini", "prices"])
                .as_str(),
            "http://127.0.0.1:8080/admin/models/openai%2Fgpt-4o%20mini/prices"
        );
        let c = Client::new("https://example.com/tollgate/", None).unwrap();
        assert_eq!(
            c.url(&["admin", "keys"]).as_str(),
            "https://example.com/tollgate/admin/keys"
        );
        assert!(matches!(
            Client::new("localhost:8080", None),
            Err(CliError::Usage(_))
        ));
    }
}
