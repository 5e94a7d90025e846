//! HS256 JSON Web Tokens (RFC 7519) with `hmac` + `sha2`: user JWTs (`X-Appwrite-JWT`) and the
//! per-execution `ephemeral_` API keys (spec 7.4) that carry a project, scopes and an expiry.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed or badly signed token")]
    Invalid,
    #[error("token expired")]
    Expired,
}

fn mac(secret: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    match HmacSha256::new_from_slice(secret) {
        Ok(mut m) => {
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// Signs `claims` with HS256.
pub fn sign(claims: &Value, secret: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let signature = URL_SAFE_NO_PAD.encode(mac(secret, signing_input.as_bytes()));
    format!("{signing_input}.{signature}")
}

/// Verifies an HS256 token and its `exp` (seconds since the epoch; absent = no expiry).
pub fn verify(token: &str, secret: &[u8], now_unix: i64) -> Result<Value, TokenError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Invalid);
    };
    let header: Value = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(TokenError::Invalid)?;
    if header["alg"] != "HS256" {
        return Err(TokenError::Invalid);
    }
    let signature = URL_SAFE_NO_PAD.decode(s).map_err(|_| TokenError::Invalid)?;
    let mut m = HmacSha256::new_from_slice(secret).map_err(|_| TokenError::Invalid)?;
    m.update(format!("{h}.{p}").as_bytes());
    m.verify_slice(&signature)
        .map_err(|_| TokenError::Invalid)?;
    let claims: Value = URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(TokenError::Invalid)?;
    match claims.get("exp") {
        None | Some(Value::Null) => {}
        Some(exp) => match exp.as_i64() {
            Some(exp) if exp > now_unix => {}
            Some(_) => return Err(TokenError::Expired),
            None => return Err(TokenError::Invalid),
        },
    }
    Ok(claims)
}

/// SHA-256 of a key secret, hex (how API keys are stored).
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The secret ephemeral keys are signed with: derived from the gateway's configured API key, so
/// every gateway replica of the deployment agrees without another setting.
pub fn ephemeral_secret(api_key: &str) -> Vec<u8> {
    mac(api_key.as_bytes(), b"fnplat ephemeral execution keys v1")
}

pub const EPHEMERAL_PREFIX: &str = "ephemeral_";

/// `ephemeral_<JWT>` for `project_id` with `scopes`, valid `ttl_seconds` from `now_unix`.
pub fn ephemeral_key(
    api_key: &str,
    project_id: &str,
    function_id: &str,
    scopes: &[String],
    now_unix: i64,
    ttl_seconds: i64,
) -> String {
    let claims = serde_json::json!({
        "projectId": project_id,
        "functionId": function_id,
        "scopes": scopes,
        "iat": now_unix,
        "exp": now_unix + ttl_seconds,
    });
    format!(
        "{EPHEMERAL_PREFIX}{}",
        sign(&claims, &ephemeral_secret(api_key))
    )
}

/// A fresh random key secret: `standard_` + 64 hex chars.
pub fn new_key_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("standard_{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sign_verify_expire_tamper() {
        let token = sign(&json!({"userId": "u1", "exp": 200}), b"s3cret");
        assert_eq!(
            verify(&token, b"s3cret", 100).map(|c| c["userId"].clone()),
            Ok(json!("u1"))
        );
        assert_eq!(verify(&token, b"s3cret", 300), Err(TokenError::Expired));
        assert_eq!(verify(&token, b"other", 100), Err(TokenError::Invalid));
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"userId":"admin","exp":200}"#);
        parts[1] = &forged;
        assert_eq!(
            verify(&parts.join("."), b"s3cret", 100),
            Err(TokenError::Invalid)
        );
        assert_eq!(verify("a.b", b"s3cret", 100), Err(TokenError::Invalid));
    }

    #[test]
    fn ephemeral_keys_carry_scopes() {
        let key = ephemeral_key("k", "p", "f", &["functions.read".into()], 1000, 75);
        let token = key.strip_prefix(EPHEMERAL_PREFIX).unwrap_or_default();
        let claims = verify(token, &ephemeral_secret("k"), 1000).unwrap_or_default();
        assert_eq!(claims["scopes"], json!(["functions.read"]));
        assert_eq!(claims["exp"], 1075);
        assert!(verify(token, &ephemeral_secret("other"), 1000).is_err());
    }
}
