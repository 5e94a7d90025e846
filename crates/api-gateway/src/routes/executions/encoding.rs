//! createExecution's request and response encodings (spec 7.6): a JSON body or a
//! `multipart/form-data` body whose `body` part is passed to the function byte-exact; the sync
//! reply as JSON (a non-UTF-8 `responseBody` is a 400 `Failed to parse response`) or, with
//! `Accept: multipart/form-data`, as multipart with `responseBody` as raw bytes.
use crate::domain::{ExecutionParams, MAX_BODY_CHARS};
use crate::error::ApiError;
use crate::params::JsonBody;
use crate::wire;
use actix_multipart::Multipart;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use futures_util::TryStreamExt;

/// Largest non-`body` multipart field (the headers object is the biggest: < 16 384 chars).
const MAX_FIELD_BYTES: usize = 64 * 1024;

/// The createExecution parameters, plus the raw bytes of a multipart `body` part.
pub struct ExecutionInput {
    pub params: ExecutionParams,
    /// The `body` exactly as sent in a multipart request; None for JSON requests.
    pub raw_body: Option<Vec<u8>>,
}

fn is_multipart(value: Option<&header::HeaderValue>) -> bool {
    value
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start().to_ascii_lowercase())
        .is_some_and(|v| v.starts_with("multipart/form-data"))
}

fn multipart_error(err: impl std::fmt::Display) -> ApiError {
    ApiError::ArgumentInvalid(format!("Invalid multipart body: {err}"))
}

impl FromRequest for ExecutionInput {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if !is_multipart(req.headers().get(header::CONTENT_TYPE)) {
            let json = JsonBody::<ExecutionParams>::from_request(req, payload);
            return Box::pin(async move {
                let JsonBody(params) = json.await?;
                Ok(ExecutionInput {
                    params,
                    raw_body: None,
                })
            });
        }
        let multipart = Multipart::new(req.headers(), payload.take());
        Box::pin(read_multipart(multipart))
    }
}

async fn read_multipart(mut multipart: Multipart) -> Result<ExecutionInput, ApiError> {
    let mut fields = serde_json::Map::new();
    let mut raw_body = None;
    while let Some(mut field) = multipart.try_next().await.map_err(multipart_error)? {
        let name = field
            .content_disposition()
            .and_then(|d| d.get_name())
            .unwrap_or_default()
            .to_owned();
        let limit = if name == "body" {
            MAX_BODY_CHARS
        } else {
            MAX_FIELD_BYTES
        };
        let mut data = Vec::new();
        while let Some(chunk) = field.try_next().await.map_err(multipart_error)? {
            if data.len() + chunk.len() > limit {
                return Err(ApiError::ArgumentInvalid(format!(
                    "Invalid `{name}` param: Value must be a valid string and no longer than {limit} chars"
                )));
            }
            data.extend_from_slice(&chunk);
        }
        if name == "body" {
            raw_body = Some(data);
        } else if !name.is_empty() {
            let text = String::from_utf8(data).map_err(|_| {
                ApiError::ArgumentInvalid(format!("Invalid `{name}` param: not valid UTF-8"))
            })?;
            fields.insert(name, serde_json::Value::String(text));
        }
    }
    let params: ExecutionParams = serde_json::from_value(serde_json::Value::Object(fields))
        .map_err(|e| ApiError::ArgumentInvalid(format!("Invalid param: {e}")))?;
    Ok(ExecutionInput { params, raw_body })
}

/// The job with the multipart `body` bytes, when there were any, as the request body.
pub fn with_raw_body(
    mut job: model::proto::ExecutionJob,
    raw_body: Option<Vec<u8>>,
) -> model::proto::ExecutionJob {
    if let Some(raw) = raw_body {
        job.body = raw;
    }
    job
}

/// True when the caller asked for the multipart encoding of the reply.
pub fn wants_multipart(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

/// The 201 reply of a synchronous execution in the encoding the caller asked for.
pub fn sync_reply(
    req: &HttpRequest,
    mut execution: wire::Execution,
    body: Vec<u8>,
    is_head: bool,
) -> Result<HttpResponse, ApiError> {
    let body = if is_head { Vec::new() } else { body };
    let execution_id = execution.id.clone();
    if wants_multipart(req) {
        execution.response_body = String::new();
        let boundary = format!("----fnplat{}", hex::encode(rand::random::<[u8; 12]>()));
        let encoded = multipart_execution(&execution, &body, &boundary)?;
        return Ok(HttpResponse::Created()
            .insert_header(("x-appwrite-execution-id", execution_id))
            .content_type(format!("multipart/form-data; boundary={boundary}"))
            .body(encoded));
    }
    execution.response_body = String::from_utf8(body).map_err(|_| {
        ApiError::BadRequest(
            "Failed to parse response: the function returned a binary body; request it with Accept: multipart/form-data."
                .into(),
        )
    })?;
    Ok(HttpResponse::Created()
        .insert_header(("x-appwrite-execution-id", execution_id))
        .json(execution))
}

/// One `form-data` part per field of the Execution model: strings as they are, `responseBody`
/// as the raw bytes, everything else (numbers, booleans, arrays) as JSON text.
pub fn multipart_execution(
    execution: &wire::Execution,
    body: &[u8],
    boundary: &str,
) -> Result<Vec<u8>, ApiError> {
    let value = serde_json::to_value(execution).map_err(ApiError::internal)?;
    let serde_json::Value::Object(fields) = value else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "execution did not serialize to an object"
        )));
    };
    let mut out = Vec::with_capacity(body.len() + 4096);
    for (name, value) in fields {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        out.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
        );
        match (name.as_str(), value) {
            ("responseBody", _) => out.extend_from_slice(body),
            (_, serde_json::Value::String(s)) => out.extend_from_slice(s.as_bytes()),
            (_, serde_json::Value::Null) => {}
            (_, other) => out.extend_from_slice(other.to_string().as_bytes()),
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_reply_carries_raw_bytes_and_every_field() {
        let execution = wire::Execution {
            id: "e1".into(),
            created_at: String::new(),
            updated_at: String::new(),
            permissions: Vec::new(),
            function_id: "f".into(),
            deployment_id: "d".into(),
            trigger: "http".into(),
            status: "completed".into(),
            request_method: "POST".into(),
            request_path: "/".into(),
            request_headers: Vec::new(),
            response_status_code: 200,
            response_body: String::new(),
            response_headers: Vec::new(),
            logs: String::new(),
            errors: String::new(),
            duration: 0.5,
            scheduled_at: None,
        };
        let raw = [0xffu8, 0x00, 0xfe, b'\r', b'\n'];
        let out = multipart_execution(&execution, &raw, "----b").expect("encode");
        let needle = b"name=\"responseBody\"\r\n\r\n\xff\x00\xfe\r\n\r\n------b";
        assert!(out.windows(needle.len()).any(|w| w == needle));
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("name=\"$id\"\r\n\r\ne1\r\n"));
        assert!(text.contains("name=\"responseStatusCode\"\r\n\r\n200\r\n"));
        assert!(text.ends_with("------b--\r\n"));
    }
}
