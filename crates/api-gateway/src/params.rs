//! Request parameter decoding shared by the handlers: a lenient JSON body extractor (an empty body
//! means "no parameters"), and SDK-style booleans/integers (`true`, `"true"`, `"1"`).
use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::{DeserializeOwned, Deserializer};
use serde::Deserialize;

/// Largest JSON body accepted (an execution `body` may hold 10,485,760 characters).
pub const MAX_JSON_BODY: usize = 48 * 1024 * 1024;

pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// A JSON body parsed into `T`. Unlike `web::Json` it accepts an empty body (as `{}`), does not
/// insist on a content type, and reports failures as `general_argument_invalid`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = bytes
                .await
                .map_err(|e| ApiError::ArgumentInvalid(format!("Invalid request body: {e}")))?;
            let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
                b"{}"
            } else {
                &bytes
            };
            serde_json::from_slice::<T>(text)
                .map(JsonBody)
                .map_err(|e| ApiError::ArgumentInvalid(describe_json_error(&e)))
        })
    }
}

fn describe_json_error(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match err.classify() {
        Category::Syntax | Category::Eof => format!("Invalid JSON body: {err}"),
        Category::Data => {
            // serde messages name the field: "missing field `name`", "invalid type ... for `timeout`".
            let msg = err.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
            format!("Invalid param: {msg}")
        }
        Category::Io => "Invalid request body".to_owned(),
    }
}

/// `bool` that also accepts `"true"`/`"false"`/`"1"`/`"0"`; `null` reads as absent.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Str(String),
        Int(i64),
    }
    match Option::<B>::deserialize(d)? {
        None => Ok(None),
        Some(B::Bool(b)) => Ok(Some(b)),
        Some(B::Int(1)) => Ok(Some(true)),
        Some(B::Int(0)) => Ok(Some(false)),
        Some(B::Str(s)) => parse_bool(&s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid boolean {s:?}"))),
        Some(B::Int(n)) => Err(serde::de::Error::custom(format!("invalid boolean {n}"))),
    }
}

/// Integer that also accepts a numeric string; `null` reads as absent.
pub fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum I {
        Int(i64),
        Float(f64),
        Str(String),
    }
    match Option::<I>::deserialize(d)? {
        None => Ok(None),
        Some(I::Int(n)) => Ok(Some(n)),
        Some(I::Float(f)) if f.fract() == 0.0 && f.abs() < 1e15 => Ok(Some(f as i64)),
        Some(I::Float(f)) => Err(serde::de::Error::custom(format!("invalid integer {f}"))),
        Some(I::Str(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("invalid integer {s:?}"))),
    }
}

/// Query-string pairs, repeated keys kept (for `queries[]=..&queries[]=..`).
pub fn query_pairs(req: &HttpRequest) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .map_err(|e| ApiError::ArgumentInvalid(format!("Invalid query string: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct P {
        #[serde(default, deserialize_with = "opt_bool")]
        b: Option<bool>,
        #[serde(default, deserialize_with = "opt_int")]
        n: Option<i64>,
    }

    #[test]
    fn lenient_scalars() {
        for (json, b, n) in [
            (r#"{"b":true,"n":5}"#, Some(true), Some(5)),
            (r#"{"b":"false","n":"7"}"#, Some(false), Some(7)),
            (r#"{"b":"1"}"#, Some(true), None),
            (r#"{"b":null,"n":null}"#, None, None),
            (r#"{}"#, None, None),
        ] {
            let p: P = serde_json::from_str(json).unwrap_or(P {
                b: Some(true),
                n: Some(-1),
            });
            assert_eq!((p.b, p.n), (b, n), "{json}");
        }
        assert!(serde_json::from_str::<P>(r#"{"b":"yes"}"#).is_err());
        assert!(serde_json::from_str::<P>(r#"{"n":"x"}"#).is_err());
    }
}
