//! The subset of the Appwrite query language the list endpoints support for now (spec 5):
//! `limit`, `offset`, `orderAsc`, `orderDesc`, `equal`, `notEqual`. Other methods are rejected
//! with `general_query_invalid`; the full language comes later.
use crate::error::ApiError;
use serde::Deserialize;
use serde_json::Value;

pub const DEFAULT_LIMIT: i64 = 25;
/// `total` counts at most this many documents.
pub const TOTAL_CAP: i64 = 5000;
const MAX_QUERIES: usize = 100;
const MAX_QUERY_LEN: usize = 4096;

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Equal(String, Vec<Value>),
    NotEqual(String, Vec<Value>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub attribute: String,
    pub ascending: bool,
}

/// A parsed list request: filters, orders, paging, the `search` text and the `total` flag.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub filters: Vec<Filter>,
    pub orders: Vec<Order>,
    pub limit: i64,
    pub offset: i64,
    pub search: Option<String>,
    pub total: bool,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            filters: vec![],
            orders: vec![],
            limit: DEFAULT_LIMIT,
            offset: 0,
            search: None,
            total: true,
        }
    }
}

#[derive(Deserialize)]
struct RawQuery {
    method: String,
    #[serde(default)]
    attribute: Option<String>,
    #[serde(default)]
    values: Vec<Value>,
}

impl ListQuery {
    /// Reads `queries`, `queries[]`, `queries[N]`, `search` and `total` from query-string pairs.
    /// Unknown parameters are ignored (spec 0.1). `allowed` is the list of filterable attributes.
    pub fn from_pairs(pairs: &[(String, String)], allowed: &[&str]) -> Result<Self, ApiError> {
        let mut raw: Vec<(Option<usize>, &str)> = Vec::new();
        let mut out = ListQuery::default();
        for (key, value) in pairs {
            if key == "queries" || key == "queries[]" {
                raw.push((None, value));
            } else if let Some(index) = key
                .strip_prefix("queries[")
                .and_then(|k| k.strip_suffix(']'))
            {
                let index = index.parse::<usize>().map_err(|_| {
                    ApiError::ArgumentInvalid(format!("Invalid `queries` param: bad key {key}"))
                })?;
                raw.push((Some(index), value));
            } else if key == "search" {
                if value.chars().count() > 256 {
                    return Err(ApiError::ArgumentInvalid(
                        "Invalid `search` param: Value must be a valid string and no longer than 256 chars".into(),
                    ));
                }
                if !value.is_empty() {
                    out.search = Some(value.clone());
                }
            } else if key == "total" {
                out.total = crate::params::parse_bool(value).ok_or_else(|| {
                    ApiError::ArgumentInvalid(
                        "Invalid `total` param: Value must be a valid boolean".into(),
                    )
                })?;
            }
        }
        // `queries[N]` keep their index order; plain ones keep arrival order.
        raw.sort_by_key(|(index, _)| index.unwrap_or(usize::MAX));
        if raw.len() > MAX_QUERIES {
            return Err(ApiError::QueryInvalid(format!(
                "Invalid queries: at most {MAX_QUERIES} queries are allowed"
            )));
        }
        for (_, text) in raw {
            out.apply(text, allowed)?;
        }
        Ok(out)
    }

    fn apply(&mut self, text: &str, allowed: &[&str]) -> Result<(), ApiError> {
        if text.len() > MAX_QUERY_LEN {
            return Err(ApiError::QueryInvalid(format!(
                "Invalid query: longer than {MAX_QUERY_LEN} characters"
            )));
        }
        let query: RawQuery = serde_json::from_str(text)
            .map_err(|e| ApiError::QueryInvalid(format!("Invalid query: {text}: {e}")))?;
        let attribute = |q: &RawQuery| -> Result<String, ApiError> {
            let attr = q.attribute.clone().unwrap_or_default();
            if allowed.contains(&attr.as_str()) {
                Ok(attr)
            } else {
                Err(ApiError::QueryInvalid(format!(
                    "Invalid query: Attribute not found in schema: {attr}"
                )))
            }
        };
        match query.method.as_str() {
            "limit" => {
                let limit = query
                    .values
                    .first()
                    .and_then(Value::as_i64)
                    .filter(|n| *n >= 1);
                self.limit = limit.ok_or_else(|| {
                    ApiError::QueryInvalid("Invalid query: Invalid limit: Value must be a valid range between 1 and 9,223,372,036,854,775,807".into())
                })?;
            }
            "offset" => {
                let offset = query
                    .values
                    .first()
                    .and_then(Value::as_i64)
                    .filter(|n| *n >= 0);
                self.offset = offset.ok_or_else(|| {
                    ApiError::QueryInvalid("Invalid query: Invalid offset: Value must be a valid range between 0 and 9,223,372,036,854,775,807".into())
                })?;
            }
            "orderAsc" | "orderDesc" => {
                let attribute = attribute(&query)?;
                self.orders.push(Order {
                    attribute,
                    ascending: query.method == "orderAsc",
                });
            }
            "equal" | "notEqual" => {
                let attribute = attribute(&query)?;
                if query.values.is_empty() {
                    return Err(ApiError::QueryInvalid(format!(
                        "Invalid query: {} queries require at least one value.",
                        query.method
                    )));
                }
                self.filters.push(if query.method == "equal" {
                    Filter::Equal(attribute, query.values)
                } else {
                    Filter::NotEqual(attribute, query.values)
                });
            }
            other => {
                return Err(ApiError::QueryInvalid(format!(
                    "Invalid query method: {other}"
                )));
            }
        }
        Ok(())
    }
}

/// Query values as strings (string values, or numbers/bools printed).
pub fn strings(values: &[Value]) -> Vec<String> {
    values
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

pub fn bools(values: &[Value]) -> Result<Vec<bool>, ApiError> {
    values
        .iter()
        .map(|v| match v {
            Value::Bool(b) => Some(*b),
            Value::String(s) => crate::params::parse_bool(s),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            ApiError::QueryInvalid(
                "Invalid query: Query value is invalid for a boolean attribute".into(),
            )
        })
}

pub fn ints(values: &[Value]) -> Result<Vec<i64>, ApiError> {
    values
        .iter()
        .map(|v| match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            ApiError::QueryInvalid(
                "Invalid query: Query value is invalid for an integer attribute".into(),
            )
        })
}

pub fn cap_total(count: i64, wanted: bool) -> i64 {
    if wanted {
        count.min(TOTAL_CAP)
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_indexed_and_bracket_queries() {
        let q = ListQuery::from_pairs(
            &pairs(&[
                ("queries[1]", r#"{"method":"offset","values":[2]}"#),
                ("queries[0]", r#"{"method":"limit","values":[5]}"#),
                ("queries[]", r#"{"method":"orderDesc","attribute":"name"}"#),
                (
                    "queries[]",
                    r#"{"method":"equal","attribute":"runtime","values":["node-18.0"]}"#,
                ),
                ("unknown", "ignored"),
            ]),
            &["name", "runtime"],
        )
        .unwrap_or_default();
        assert_eq!(q.limit, 5);
        assert_eq!(q.offset, 2);
        assert_eq!(
            q.orders,
            vec![Order {
                attribute: "name".into(),
                ascending: false
            }]
        );
        assert_eq!(
            q.filters,
            vec![Filter::Equal(
                "runtime".into(),
                vec![Value::from("node-18.0")]
            )]
        );
    }

    #[test]
    fn defaults_and_rejections() {
        let q = ListQuery::from_pairs(&[], &[]).unwrap_or_default();
        assert_eq!((q.limit, q.offset, q.total), (25, 0, true));
        let bad = ListQuery::from_pairs(
            &pairs(&[(
                "queries[]",
                r#"{"method":"regex","attribute":"name","values":["x"]}"#,
            )]),
            &["name"],
        );
        assert!(matches!(bad, Err(ApiError::QueryInvalid(_))));
        let bad_attr = ListQuery::from_pairs(
            &pairs(&[("queries[]", r#"{"method":"orderAsc","attribute":"secret"}"#)]),
            &["name"],
        );
        assert!(matches!(bad_attr, Err(ApiError::QueryInvalid(_))));
        let bad_json = ListQuery::from_pairs(&pairs(&[("queries[]", "limit(5)")]), &[]);
        assert!(matches!(bad_json, Err(ApiError::QueryInvalid(_))));
        let total = ListQuery::from_pairs(&pairs(&[("total", "false")]), &[]).unwrap_or_default();
        assert!(!total.total);
    }
}
