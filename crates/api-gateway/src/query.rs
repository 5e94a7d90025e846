//! The Appwrite query language of the list endpoints (spec 5), parsed from the SDKs' JSON query
//! strings and turned into diesel boxed expressions (never into SQL text).
//!
//! Parsing (`ListQuery::from_pairs`) checks the shape of every query and that its attribute is
//! one the collection allows. Translation (`Plan::build`) maps attributes to typed columns through
//! the collection's `column` function, so a value that does not fit the column's type is a
//! `general_query_invalid` too.
//!
//! Choices where Appwrite's behaviour comes from its database engine: `search`/`notSearch` match
//! when any whitespace-separated term occurs in the attribute (case-insensitive);
//! `contains`/`containsAny` on a string attribute are substring matches, `containsAll` needs all
//! values, `notContains` none; `isNull` on a text attribute is also true for `''` (unset values are
//! stored as `''`). `regex` is PostgreSQL's case-sensitive `~` (its ARE dialect; a pattern the
//! database rejects is a 400, checked before the list query runs). `exists`/`notExists` match
//! when every named attribute is non-null/null in SQL: our attributes are typed NOT NULL
//! columns, so a known attribute always exists (an unset text `''` too, unlike `isNull`). The
//! default order is insertion order (`$sequence`), which is also the final
//! tie-breaker of every order, so cursors are exact.
use crate::error::ApiError;
use chrono::{DateTime, Utc};
use diesel::expression::expression_types::NotSelectable;
use diesel::expression::BoxableExpression;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Integer, Jsonb, Text, Timestamptz};
use serde_json::{Map, Value};

pub const DEFAULT_LIMIT: i64 = 25;
/// `total` counts at most this many documents.
pub const TOTAL_CAP: i64 = 5000;
const MAX_QUERIES: usize = 100;
const MAX_QUERY_LEN: usize = 4096;
const MAX_VALUES: usize = 500;

/// A comparison method (spec 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Equal,
    NotEqual,
    LessThan,
    LessThanEqual,
    GreaterThan,
    GreaterThanEqual,
    Between,
    NotBetween,
    IsNull,
    IsNotNull,
    StartsWith,
    EndsWith,
    NotStartsWith,
    NotEndsWith,
    Search,
    NotSearch,
    Contains,
    NotContains,
    ContainsAny,
    ContainsAll,
    Regex,
}

impl Op {
    fn parse(method: &str) -> Option<Self> {
        Some(match method {
            "equal" => Self::Equal,
            "notEqual" => Self::NotEqual,
            "lessThan" => Self::LessThan,
            "lessThanEqual" => Self::LessThanEqual,
            "greaterThan" => Self::GreaterThan,
            "greaterThanEqual" => Self::GreaterThanEqual,
            "between" => Self::Between,
            "notBetween" => Self::NotBetween,
            "isNull" => Self::IsNull,
            "isNotNull" => Self::IsNotNull,
            "startsWith" => Self::StartsWith,
            "endsWith" => Self::EndsWith,
            "notStartsWith" => Self::NotStartsWith,
            "notEndsWith" => Self::NotEndsWith,
            "search" => Self::Search,
            "notSearch" => Self::NotSearch,
            "contains" => Self::Contains,
            "notContains" => Self::NotContains,
            "containsAny" => Self::ContainsAny,
            "containsAll" => Self::ContainsAll,
            "regex" => Self::Regex,
            _ => return None,
        })
    }

    /// How many values the method takes: (min, max).
    fn arity(self) -> (usize, usize) {
        match self {
            Self::IsNull | Self::IsNotNull => (0, 0),
            Self::Between | Self::NotBetween => (2, 2),
            Self::LessThan
            | Self::LessThanEqual
            | Self::GreaterThan
            | Self::GreaterThanEqual
            | Self::StartsWith
            | Self::EndsWith
            | Self::NotStartsWith
            | Self::NotEndsWith
            | Self::Search
            | Self::NotSearch
            | Self::Regex => (1, 1),
            _ => (1, MAX_VALUES),
        }
    }

    fn text_only(self) -> bool {
        matches!(
            self,
            Self::StartsWith
                | Self::EndsWith
                | Self::NotStartsWith
                | Self::NotEndsWith
                | Self::Search
                | Self::NotSearch
                | Self::Contains
                | Self::NotContains
                | Self::ContainsAny
                | Self::ContainsAll
                | Self::Regex
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        attribute: String,
        op: Op,
        values: Vec<Value>,
    },
    /// `exists` (`present`) / `notExists`: every named attribute is non-null / null.
    Exists {
        attributes: Vec<String>,
        present: bool,
    },
    Or(Vec<Filter>),
    And(Vec<Filter>),
}

impl Filter {
    /// The patterns of every `regex` filter, nested ones included (checked by the database
    /// before the list query runs, so a bad pattern is a 400 and not a 500).
    pub fn regex_patterns(&self) -> Vec<String> {
        match self {
            Filter::Compare {
                op: Op::Regex,
                values,
                ..
            } => values
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Filter::Or(list) | Filter::And(list) => {
                list.iter().flat_map(Filter::regex_patterns).collect()
            }
            _ => vec![],
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Order {
    By { attribute: String, ascending: bool },
    Random,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub id: String,
    pub after: bool,
}

/// What a collection accepts in `queries`.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Filterable and orderable attributes (besides `$id`, `$createdAt`, `$updatedAt`, `$sequence`).
    pub attributes: &'static [&'static str],
    /// `select` is accepted (deployments only).
    pub select: bool,
}

const SYSTEM_ATTRIBUTES: [&str; 4] = ["$id", "$createdAt", "$updatedAt", "$sequence"];

impl From<&'static [&'static str]> for Rules {
    fn from(attributes: &'static [&'static str]) -> Self {
        Self {
            attributes,
            select: false,
        }
    }
}

impl Rules {
    fn allows(&self, attribute: &str) -> bool {
        SYSTEM_ATTRIBUTES.contains(&attribute) || self.attributes.contains(&attribute)
    }
}

/// A parsed list request: filters, orders, paging, cursor, selection, `search` and `total`.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub filters: Vec<Filter>,
    pub orders: Vec<Order>,
    pub limit: i64,
    pub offset: i64,
    pub cursor: Option<Cursor>,
    pub select: Option<Vec<String>>,
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
            cursor: None,
            select: None,
            search: None,
            total: true,
        }
    }
}

fn invalid(message: impl std::fmt::Display) -> ApiError {
    ApiError::QueryInvalid(format!("Invalid query: {message}"))
}

#[derive(serde::Deserialize)]
struct RawQuery {
    method: String,
    #[serde(default)]
    attribute: Option<String>,
    #[serde(default)]
    values: Option<Vec<Value>>,
}

impl ListQuery {
    /// Reads `queries`, `queries[]`, `queries[N]`, `search` and `total` from query-string pairs
    /// (both SDK array encodings). Unknown parameters are ignored (spec 0.1).
    pub fn from_pairs(
        pairs: &[(String, String)],
        rules: impl Into<Rules>,
    ) -> Result<Self, ApiError> {
        let rules = rules.into();
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
                if !value.trim().is_empty() {
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
            if text.len() > MAX_QUERY_LEN {
                return Err(invalid(format!(
                    "Query must be at most {MAX_QUERY_LEN} characters"
                )));
            }
            let value: Value = serde_json::from_str(text)
                .map_err(|e| invalid(format!("Query must be valid JSON: {text} ({e})")))?;
            out.apply(value, rules)?;
        }
        Ok(out)
    }

    fn apply(&mut self, value: Value, rules: Rules) -> Result<(), ApiError> {
        let query = raw(value)?;
        let values = query.values.clone().unwrap_or_default();
        let first_int = |what: &str, min: i64| -> Result<i64, ApiError> {
            values
                .first()
                .and_then(|v| match v {
                    Value::Number(n) => n.as_i64(),
                    Value::String(s) => s.parse().ok(),
                    _ => None,
                })
                .filter(|n| *n >= min)
                .ok_or_else(|| {
                    invalid(format!(
                        "Invalid {what}: Value must be a valid range between {min} and 9,223,372,036,854,775,807"
                    ))
                })
        };
        match query.method.as_str() {
            "limit" => self.limit = first_int("limit", 1)?,
            "offset" => self.offset = first_int("offset", 0)?,
            "cursorAfter" | "cursorBefore" => {
                if self.cursor.is_some() {
                    return Err(invalid("Only one cursor query is allowed"));
                }
                let id = match values.first() {
                    Some(Value::String(s)) if !s.is_empty() => s.clone(),
                    _ => return Err(invalid("Invalid cursor: Cursor must contain a document ID")),
                };
                self.cursor = Some(Cursor {
                    id,
                    after: query.method == "cursorAfter",
                });
            }
            "orderAsc" | "orderDesc" => {
                let attribute = query.attribute.clone().unwrap_or_default();
                if !rules.allows(&attribute) {
                    return Err(unknown_attribute(&attribute));
                }
                self.orders.push(Order::By {
                    attribute,
                    ascending: query.method == "orderAsc",
                });
            }
            "orderRandom" => self.orders.push(Order::Random),
            "select" => {
                if !rules.select {
                    return Err(invalid("Method not allowed: select"));
                }
                let attributes = values
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| invalid("select queries require attribute names"))?;
                self.select.get_or_insert_with(Vec::new).extend(attributes);
            }
            _ => self.filters.push(filter(query, rules)?),
        }
        Ok(())
    }
}

fn unknown_attribute(attribute: &str) -> ApiError {
    invalid(format!("Attribute not found in schema: {attribute}"))
}

fn raw(value: Value) -> Result<RawQuery, ApiError> {
    // Nested queries of `or`/`and` may arrive as objects or as JSON strings.
    let value = match value {
        Value::String(s) => serde_json::from_str(&s)
            .map_err(|e| invalid(format!("Query must be valid JSON: {s} ({e})")))?,
        other => other,
    };
    serde_json::from_value(value)
        .map_err(|e| invalid(format!("Query must be an object with a method: {e}")))
}

fn filter(query: RawQuery, rules: Rules) -> Result<Filter, ApiError> {
    let values = query.values.unwrap_or_default();
    match query.method.as_str() {
        "or" | "and" => {
            if values.len() < 2 {
                return Err(invalid(format!(
                    "{} queries require at least two queries",
                    query.method
                )));
            }
            let nested = values
                .into_iter()
                .map(|v| {
                    let q = raw(v)?;
                    if Op::parse(&q.method).is_none()
                        && !matches!(q.method.as_str(), "or" | "and" | "exists" | "notExists")
                    {
                        return Err(invalid(format!(
                            "{} queries can only contain filter queries, not {}",
                            query.method, q.method
                        )));
                    }
                    filter(q, rules)
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if query.method == "or" {
                Filter::Or(nested)
            } else {
                Filter::And(nested)
            })
        }
        "exists" | "notExists" => {
            if values.is_empty() || values.len() > MAX_VALUES {
                return Err(invalid(format!(
                    "{} queries require between 1 and {MAX_VALUES} attribute names",
                    query.method
                )));
            }
            let attributes = values
                .into_iter()
                .map(|v| match v {
                    Value::String(name) if rules.allows(&name) => Ok(name),
                    Value::String(name) => Err(unknown_attribute(&name)),
                    other => Err(invalid(format!(
                        "{} queries take attribute names, not {other}",
                        query.method
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Filter::Exists {
                attributes,
                present: query.method == "exists",
            })
        }
        method => {
            let op = Op::parse(method)
                .ok_or_else(|| invalid(format!("Invalid query method: {method}")))?;
            let attribute = query.attribute.unwrap_or_default();
            if !rules.allows(&attribute) {
                return Err(unknown_attribute(&attribute));
            }
            let (min, max) = op.arity();
            if values.len() < min || values.len() > max {
                return Err(invalid(if min == max {
                    format!("{method} queries require exactly {min} value(s)")
                } else {
                    format!("{method} queries require between {min} and {max} values")
                }));
            }
            Ok(Filter::Compare {
                attribute,
                op,
                values,
            })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Translation to diesel expressions.

pub type Pred<T> = Box<dyn BoxableExpression<T, Pg, SqlType = Bool>>;
pub type OrderExpr<T> = Box<dyn BoxableExpression<T, Pg, SqlType = NotSelectable>>;

/// A column of table `T`, typed, as a collection exposes it to queries.
pub enum Col<T> {
    Text(Box<dyn BoxableExpression<T, Pg, SqlType = Text>>),
    Int4(Box<dyn BoxableExpression<T, Pg, SqlType = Integer>>),
    Int8(Box<dyn BoxableExpression<T, Pg, SqlType = BigInt>>),
    Float(Box<dyn BoxableExpression<T, Pg, SqlType = Double>>),
    Bool(Box<dyn BoxableExpression<T, Pg, SqlType = Bool>>),
    Time(Box<dyn BoxableExpression<T, Pg, SqlType = Timestamptz>>),
}

diesel::define_sql_function!(fn to_jsonb<V: diesel::sql_types::SingleValue>(x: V) -> Jsonb);

pub type JsonExpr<T> = Box<dyn BoxableExpression<T, Pg, SqlType = Jsonb>>;

impl<T: 'static> Col<T> {
    /// The column as PostgreSQL JSON (datetimes as RFC 3339 with microseconds).
    fn into_json(self) -> JsonExpr<T> {
        match self {
            Col::Text(c) => Box::new(to_jsonb(c)),
            Col::Int4(c) => Box::new(to_jsonb(c)),
            Col::Int8(c) => Box::new(to_jsonb(c)),
            Col::Float(c) => Box::new(to_jsonb(c)),
            Col::Bool(c) => Box::new(to_jsonb(c)),
            Col::Time(c) => Box::new(to_jsonb(c)),
        }
    }
}

/// How to read the cursor document's values: per attribute the keyset needs, a predicate
/// selecting the cursor document by `$id` and the attribute's value as JSON. The caller runs each
/// on its scoped query; no row means `general_cursor_not_found`.
pub struct CursorLookup<T> {
    pub id: String,
    pub reads: Vec<(String, Pred<T>, JsonExpr<T>)>,
}

impl ListQuery {
    /// The attributes a cursor compares: the ordered ones plus the `$sequence` tie-breaker.
    fn keyset_attributes(&self) -> Vec<(String, bool)> {
        let mut by: Vec<(String, bool)> = self
            .orders
            .iter()
            .filter_map(|o| match o {
                Order::By {
                    attribute,
                    ascending,
                } => Some((attribute.clone(), *ascending)),
                Order::Random => None,
            })
            .collect();
        if !by.iter().any(|(a, _)| a == "$sequence") {
            by.push(("$sequence".into(), true));
        }
        by
    }

    /// `None` without a cursor.
    pub fn cursor_lookup<T: 'static>(
        &self,
        columns: &impl Columns<T>,
    ) -> Result<Option<CursorLookup<T>>, ApiError> {
        let Some(cursor) = &self.cursor else {
            return Ok(None);
        };
        let id = [Value::from(cursor.id.clone())];
        let reads = self
            .keyset_attributes()
            .into_iter()
            .map(|(attribute, _)| {
                let by_id = compare(column(columns, "$id")?, "$id", Op::Equal, &id)?;
                let value = column(columns, &attribute)?.into_json();
                Ok((attribute, by_id, value))
            })
            .collect::<Result<_, ApiError>>()?;
        Ok(Some(CursorLookup {
            id: cursor.id.clone(),
            reads,
        }))
    }
}

impl<T> Col<T> {
    fn type_name(&self) -> &'static str {
        match self {
            Col::Text(_) => "string",
            Col::Int4(_) | Col::Int8(_) => "integer",
            Col::Float(_) => "double",
            Col::Bool(_) => "boolean",
            Col::Time(_) => "datetime",
        }
    }
}

/// Boxes a column (or any expression) for `Col`.
#[macro_export]
macro_rules! col {
    ($variant:ident, $e:expr) => {
        $crate::query::Col::$variant(Box::new($e))
    };
}

/// A collection's attribute -> column mapping.
pub trait Columns<T> {
    fn column(&self, attribute: &str) -> Option<Col<T>>;
    /// Columns the `search` parameter looks in.
    fn search_columns(&self) -> Vec<Box<dyn BoxableExpression<T, Pg, SqlType = Text>>>;
}

impl<T, F, S> Columns<T> for (F, S)
where
    F: Fn(&str) -> Option<Col<T>>,
    S: Fn() -> Vec<Box<dyn BoxableExpression<T, Pg, SqlType = Text>>>,
{
    fn column(&self, attribute: &str) -> Option<Col<T>> {
        (self.0)(attribute)
    }
    fn search_columns(&self) -> Vec<Box<dyn BoxableExpression<T, Pg, SqlType = Text>>> {
        (self.1)()
    }
}

fn bad_value(attribute: &str, kind: &str) -> ApiError {
    invalid(format!(
        "Query value is invalid for attribute \"{attribute}\" of type {kind}"
    ))
}

fn as_text(attribute: &str, v: &Value) -> Result<String, ApiError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(bad_value(attribute, "string")),
    }
}

fn as_i64(attribute: &str, v: &Value) -> Result<i64, ApiError> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| bad_value(attribute, "integer"))
}

fn as_f64(attribute: &str, v: &Value) -> Result<f64, ApiError> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| bad_value(attribute, "double"))
}

fn as_bool(attribute: &str, v: &Value) -> Result<bool, ApiError> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => crate::params::parse_bool(s),
        Value::Number(n) => match n.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        _ => None,
    }
    .ok_or_else(|| bad_value(attribute, "boolean"))
}

fn as_time(attribute: &str, v: &Value) -> Result<DateTime<Utc>, ApiError> {
    let s = v.as_str().ok_or_else(|| bad_value(attribute, "datetime"))?;
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").map(|n| n.and_utc())
        })
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        })
        .map_err(|_| bad_value(attribute, "datetime"))
}

/// `%`/`_`/`\` escaped for LIKE.
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

fn or_all<T: 'static>(mut preds: Vec<Pred<T>>) -> Option<Pred<T>> {
    let first = preds.pop()?;
    Some(preds.into_iter().fold(first, |acc, p| Box::new(p.or(acc))))
}

fn and_all<T: 'static>(mut preds: Vec<Pred<T>>) -> Option<Pred<T>> {
    let first = preds.pop()?;
    Some(preds.into_iter().fold(first, |acc, p| Box::new(p.and(acc))))
}

fn always<T: 'static>(value: bool) -> Pred<T> {
    Box::new(diesel::dsl::sql::<Bool>(if value {
        "TRUE"
    } else {
        "FALSE"
    }))
}

/// Comparisons shared by every ordered type: equal .. notBetween, null checks.
macro_rules! ordered_ops {
    ($T:ty, $col:expr, $op:expr, $vals:expr, $attr:expr, $conv:ident) => {{
        let vals = $vals
            .iter()
            .map(|v| $conv($attr, v))
            .collect::<Result<Vec<_>, ApiError>>()?;
        let first = vals.first().cloned();
        let second = vals.get(1).cloned();
        let p: Pred<$T> = match ($op, first, second) {
            (Op::Equal, _, _) => Box::new($col.eq_any(vals)),
            (Op::NotEqual, _, _) => Box::new(diesel::dsl::not($col.eq_any(vals))),
            (Op::LessThan, Some(a), _) => Box::new($col.lt(a)),
            (Op::LessThanEqual, Some(a), _) => Box::new($col.le(a)),
            (Op::GreaterThan, Some(a), _) => Box::new($col.gt(a)),
            (Op::GreaterThanEqual, Some(a), _) => Box::new($col.ge(a)),
            (Op::Between, Some(a), Some(b)) => Box::new($col.between(a, b)),
            (Op::NotBetween, Some(a), Some(b)) => Box::new($col.not_between(a, b)),
            (Op::IsNull, _, _) => Box::new($col.is_null()),
            (Op::IsNotNull, _, _) => Box::new($col.is_not_null()),
            (op, _, _) => {
                return Err(invalid(format!(
                    "Cannot apply {op:?} to attribute \"{}\"",
                    $attr
                )))
            }
        };
        p
    }};
}

fn compare<T: 'static>(
    col: Col<T>,
    attribute: &str,
    op: Op,
    values: &[Value],
) -> Result<Pred<T>, ApiError> {
    if op.text_only() && !matches!(col, Col::Text(_)) {
        return Err(invalid(format!(
            "Cannot apply {} to attribute \"{attribute}\" of type {}",
            method_name(op),
            col.type_name()
        )));
    }
    Ok(match col {
        Col::Text(c) => text_compare(c, attribute, op, values)?,
        Col::Int4(c) => {
            let ints = |a: &str, v: &Value| -> Result<i32, ApiError> {
                i32::try_from(as_i64(a, v)?).map_err(|_| bad_value(a, "integer"))
            };
            ordered_ops!(T, c, op, values, attribute, ints)
        }
        Col::Int8(c) => ordered_ops!(T, c, op, values, attribute, as_i64),
        Col::Float(c) => ordered_ops!(T, c, op, values, attribute, as_f64),
        Col::Bool(c) => ordered_ops!(T, c, op, values, attribute, as_bool),
        Col::Time(c) => ordered_ops!(T, c, op, values, attribute, as_time),
    })
}

fn text_compare<T: 'static>(
    c: Box<dyn BoxableExpression<T, Pg, SqlType = Text>>,
    attribute: &str,
    op: Op,
    values: &[Value],
) -> Result<Pred<T>, ApiError> {
    let texts = values
        .iter()
        .map(|v| as_text(attribute, v))
        .collect::<Result<Vec<_>, _>>()?;
    let first = texts.first().cloned().unwrap_or_default();
    // One boxed column cannot be used twice, so multi-term predicates re-box per term via SQL
    // arrays: `col ILIKE ANY(patterns)` / `col ILIKE ALL(patterns)`.
    Ok(match op {
        Op::StartsWith => Box::new(c.like(format!("{}%", like_escape(&first)))),
        Op::NotStartsWith => Box::new(c.not_like(format!("{}%", like_escape(&first)))),
        Op::EndsWith => Box::new(c.like(format!("%{}", like_escape(&first)))),
        Op::NotEndsWith => Box::new(c.not_like(format!("%{}", like_escape(&first)))),
        Op::Search | Op::NotSearch => {
            let patterns: Vec<String> = first
                .split_whitespace()
                .map(|t| format!("%{}%", like_escape(t)))
                .collect();
            if patterns.is_empty() {
                return Ok(always(op == Op::NotSearch));
            }
            let any: Pred<T> = ilike_any(c, patterns);
            if op == Op::Search {
                any
            } else {
                Box::new(diesel::dsl::not(any))
            }
        }
        Op::Contains | Op::ContainsAny | Op::NotContains => {
            let patterns: Vec<String> = texts
                .iter()
                .map(|t| format!("%{}%", like_escape(t)))
                .collect();
            let any: Pred<T> = like_any(c, patterns);
            if op == Op::NotContains {
                Box::new(diesel::dsl::not(any))
            } else {
                any
            }
        }
        Op::ContainsAll => {
            let patterns: Vec<String> = texts
                .iter()
                .map(|t| format!("%{}%", like_escape(t)))
                .collect();
            like_all(c, patterns)
        }
        Op::Regex => Box::new(RegexMatch::new(c, first.into_sql::<Text>())),
        Op::IsNull => Box::new(c.is_null()),
        Op::IsNotNull => Box::new(c.is_not_null()),
        _ => ordered_ops!(T, c, op, values, attribute, as_text),
    })
}

// PostgreSQL's case-sensitive POSIX regular-expression match, `text ~ pattern`.
diesel::infix_operator!(RegexMatch, " ~ ", backend: Pg);

type TextExpr<T> = Box<dyn BoxableExpression<T, Pg, SqlType = Text>>;

// `col LIKE ANY($1)` / `LIKE ALL` / `ILIKE ANY` with the patterns bound as one text array.
// diesel's `any`/`all` are deprecated in favour of `eq_any`, which cannot express LIKE.
#[allow(deprecated)]
fn like_any<T: 'static>(c: TextExpr<T>, patterns: Vec<String>) -> Pred<T> {
    Box::new(c.like(diesel::dsl::any(patterns)))
}
#[allow(deprecated)]
fn like_all<T: 'static>(c: TextExpr<T>, patterns: Vec<String>) -> Pred<T> {
    Box::new(c.like(diesel::dsl::all(patterns)))
}
#[allow(deprecated)]
fn ilike_any<T: 'static>(c: TextExpr<T>, patterns: Vec<String>) -> Pred<T> {
    Box::new(c.ilike(diesel::dsl::any(patterns)))
}

fn method_name(op: Op) -> String {
    let s = format!("{op:?}");
    let mut chars = s.chars();
    match chars.next() {
        Some(f) => f.to_lowercase().collect::<String>() + chars.as_str(),
        None => s,
    }
}

diesel::define_sql_function!(fn random() -> Double);

/// The translated query: WHERE predicate, keyset predicate, ORDER BY terms and whether the page
/// must be reversed (cursorBefore).
pub struct Plan<T> {
    pub filter: Option<Pred<T>>,
    pub cursor: Option<Pred<T>>,
    pub orders: Vec<OrderExpr<T>>,
    pub reverse: bool,
}

/// The cursor document's values of the keyset attributes, read with `ListQuery::cursor_lookup`
/// (PostgreSQL JSON: datetimes as RFC 3339 with microseconds).
pub type CursorValues = Map<String, Value>;

impl<T: 'static> Plan<T> {
    /// Builds the plan. `cursor` holds the cursor document's values when `q.cursor` is set
    /// (the caller looked it up and answered `general_cursor_not_found` if missing).
    pub fn build(
        q: &ListQuery,
        columns: &impl Columns<T>,
        cursor: Option<&CursorValues>,
    ) -> Result<Self, ApiError> {
        let mut preds = Vec::new();
        for f in &q.filters {
            preds.push(translate(f, columns)?);
        }
        if let Some(search) = &q.search {
            let patterns: Vec<String> = search
                .split_whitespace()
                .map(|t| format!("%{}%", like_escape(t)))
                .collect();
            let any = columns
                .search_columns()
                .into_iter()
                .map(|c| ilike_any(c, patterns.clone()))
                .collect();
            if let Some(p) = or_all(any) {
                preds.push(p);
            }
        }
        let is_random = q.orders.contains(&Order::Random);
        // Orders plus the `$sequence` tie-breaker.
        let mut by = q.keyset_attributes();
        let reverse = q.cursor.as_ref().is_some_and(|c| !c.after);
        if reverse {
            for (_, asc) in &mut by {
                *asc = !*asc;
            }
        }
        let cursor_pred = match (&q.cursor, cursor) {
            (Some(_), _) if is_random => {
                return Err(invalid(
                    "Cursor queries cannot be combined with orderRandom",
                ))
            }
            (Some(_), Some(values)) => Some(keyset(&by, columns, values)?),
            _ => None,
        };
        let mut orders: Vec<OrderExpr<T>> = Vec::new();
        if is_random {
            orders.push(Box::new(random().asc()));
        }
        for (attribute, asc) in &by {
            let col = columns
                .column(attribute)
                .ok_or_else(|| unknown_attribute(attribute))?;
            orders.push(order(col, *asc));
        }
        Ok(Self {
            filter: and_all(preds),
            cursor: cursor_pred,
            orders,
            reverse,
        })
    }
}

fn order<T: 'static>(col: Col<T>, asc: bool) -> OrderExpr<T> {
    macro_rules! dir {
        ($c:expr) => {
            if asc {
                Box::new($c.asc())
            } else {
                Box::new($c.desc())
            }
        };
    }
    match col {
        Col::Text(c) => dir!(c),
        Col::Int4(c) => dir!(c),
        Col::Int8(c) => dir!(c),
        Col::Float(c) => dir!(c),
        Col::Bool(c) => dir!(c),
        Col::Time(c) => dir!(c),
    }
}

fn column<T>(columns: &impl Columns<T>, attribute: &str) -> Result<Col<T>, ApiError> {
    columns
        .column(attribute)
        .ok_or_else(|| unknown_attribute(attribute))
}

fn translate<T: 'static>(f: &Filter, columns: &impl Columns<T>) -> Result<Pred<T>, ApiError> {
    match f {
        Filter::Or(list) => or_all(
            list.iter()
                .map(|f| translate(f, columns))
                .collect::<Result<_, _>>()?,
        )
        .ok_or_else(|| invalid("empty or")),
        Filter::And(list) => and_all(
            list.iter()
                .map(|f| translate(f, columns))
                .collect::<Result<_, _>>()?,
        )
        .ok_or_else(|| invalid("empty and")),
        Filter::Exists {
            attributes,
            present,
        } => {
            // Typed columns: an attribute exists when its column is not SQL NULL (a NOT NULL
            // column always exists; unlike `isNull`, an unset text value `''` exists).
            let op = if *present { Op::IsNotNull } else { Op::IsNull };
            and_all(
                attributes
                    .iter()
                    .map(|a| compare(column(columns, a)?, a, op, &[]))
                    .collect::<Result<_, _>>()?,
            )
            .ok_or_else(|| invalid("exists queries require attribute names"))
        }
        Filter::Compare {
            attribute,
            op,
            values,
        } => {
            let col = column(columns, attribute)?;
            let is_text = matches!(col, Col::Text(_));
            let pred = compare(col, attribute, *op, values)?;
            // Unset text attributes are stored as '': they count as null.
            Ok(match (is_text, op) {
                (true, Op::IsNull) => {
                    let empty = compare(
                        column(columns, attribute)?,
                        attribute,
                        Op::Equal,
                        &[Value::from("")],
                    )?;
                    Box::new(pred.or(empty))
                }
                (true, Op::IsNotNull) => {
                    let set = compare(
                        column(columns, attribute)?,
                        attribute,
                        Op::NotEqual,
                        &[Value::from("")],
                    )?;
                    Box::new(pred.and(set))
                }
                _ => pred,
            })
        }
    }
}

/// Rows strictly after the cursor in the order `by`:
/// `c1 > v1 OR (c1 = v1 AND (c2 > v2 OR (c2 = v2 AND ...)))` (`<` for descending).
fn keyset<T: 'static>(
    by: &[(String, bool)],
    columns: &impl Columns<T>,
    values: &CursorValues,
) -> Result<Pred<T>, ApiError> {
    let mut acc: Option<Pred<T>> = None;
    for (attribute, asc) in by.iter().rev() {
        let value = values.get(attribute).cloned().unwrap_or(Value::Null);
        let op = if *asc { Op::GreaterThan } else { Op::LessThan };
        let strict: Pred<T> = if value.is_null() {
            // Nulls sort last ascending: after a null only nulls remain.
            always(false)
        } else {
            compare(
                column(columns, attribute)?,
                attribute,
                op,
                std::slice::from_ref(&value),
            )?
        };
        acc = Some(match acc {
            None => strict,
            Some(rest) => {
                let same: Pred<T> = if value.is_null() {
                    compare(column(columns, attribute)?, attribute, Op::IsNull, &[])?
                } else {
                    compare(
                        column(columns, attribute)?,
                        attribute,
                        Op::Equal,
                        std::slice::from_ref(&value),
                    )?
                };
                Box::new(strict.or(same.and(rest)))
            }
        });
    }
    acc.ok_or_else(|| invalid("empty order"))
}

/// Keeps only the selected attributes (and the `$` system attributes) of each item.
pub fn select_fields(items: &mut [Value], select: &Option<Vec<String>>) {
    let Some(select) = select else { return };
    if select.iter().any(|s| s == "*") {
        return;
    }
    for item in items {
        if let Value::Object(map) = item {
            map.retain(|k, _| k.starts_with('$') || select.iter().any(|s| s == k));
        }
    }
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

    const RULES: Rules = Rules {
        attributes: &["name", "runtime"],
        select: false,
    };

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
                ("queries[]", r#"{"method":"cursorAfter","values":["abc"]}"#),
                ("unknown", "ignored"),
            ]),
            RULES,
        )
        .unwrap_or_default();
        assert_eq!(q.limit, 5);
        assert_eq!(q.offset, 2);
        assert_eq!(
            q.orders,
            vec![Order::By {
                attribute: "name".into(),
                ascending: false
            }]
        );
        assert_eq!(
            q.filters,
            vec![Filter::Compare {
                attribute: "runtime".into(),
                op: Op::Equal,
                values: vec![Value::from("node-18.0")]
            }]
        );
        assert_eq!(
            q.cursor,
            Some(Cursor {
                id: "abc".into(),
                after: true
            })
        );
    }

    #[test]
    fn nested_or_accepts_objects_and_strings() {
        let q = ListQuery::from_pairs(
            &pairs(&[(
                "queries[0]",
                r#"{"method":"or","values":[{"method":"equal","attribute":"name","values":["a"]},"{\"method\":\"startsWith\",\"attribute\":\"name\",\"values\":[\"b\"]}"]}"#,
            )]),
            RULES,
        );
        assert!(
            matches!(q, Ok(ref q) if matches!(q.filters[0], Filter::Or(ref v) if v.len() == 2))
        );
    }

    #[test]
    fn defaults_and_rejections() {
        let q = ListQuery::from_pairs(&[], RULES).unwrap_or_default();
        assert_eq!((q.limit, q.offset, q.total), (25, 0, true));
        for bad in [
            r#"{"method":"regex","attribute":"name","values":["x","y"]}"#,
            r#"{"method":"regex","attribute":"secret","values":["x"]}"#,
            r#"{"method":"exists","values":["name","secret"]}"#,
            r#"{"method":"notExists","values":[]}"#,
            r#"{"method":"exists","values":[1]}"#,
            r#"{"method":"orderAsc","attribute":"secret"}"#,
            r#"{"method":"select","values":["name"]}"#,
            r#"{"method":"between","attribute":"name","values":["a"]}"#,
            r#"{"method":"limit","values":[0]}"#,
            r#"{"method":"or","values":[{"method":"limit","values":[1]},{"method":"limit","values":[1]}]}"#,
            "limit(5)",
        ] {
            let r = ListQuery::from_pairs(&pairs(&[("queries[]", bad)]), RULES);
            assert!(matches!(r, Err(ApiError::QueryInvalid(_))), "{bad}");
        }
        let total = ListQuery::from_pairs(&pairs(&[("total", "false")]), RULES).unwrap_or_default();
        assert!(!total.total);
    }

    #[test]
    fn parses_regex_and_exists_also_nested() {
        let q = ListQuery::from_pairs(
            &pairs(&[
                (
                    "queries[0]",
                    r#"{"method":"regex","attribute":"name","values":["^a.*z$"]}"#,
                ),
                ("queries[1]", r#"{"method":"exists","values":["name","$id"]}"#),
                (
                    "queries[2]",
                    r#"{"method":"or","values":[{"method":"notExists","values":["runtime"]},{"method":"and","values":[{"method":"regex","attribute":"runtime","values":["node"]},{"method":"exists","values":["name"]}]}]}"#,
                ),
            ]),
            RULES,
        )
        .map_err(|e| format!("{e:?}"));
        let exists = |names: &[&str], present| Filter::Exists {
            attributes: names.iter().map(|n| n.to_string()).collect(),
            present,
        };
        let regex = |attribute: &str, pattern: &str| Filter::Compare {
            attribute: attribute.into(),
            op: Op::Regex,
            values: vec![Value::from(pattern)],
        };
        let expected = vec![
            regex("name", "^a.*z$"),
            exists(&["name", "$id"], true),
            Filter::Or(vec![
                exists(&["runtime"], false),
                Filter::And(vec![regex("runtime", "node"), exists(&["name"], true)]),
            ]),
        ];
        assert_eq!(q.as_ref().map(|q| &q.filters), Ok(&expected));
        let patterns: Vec<String> = expected.iter().flat_map(Filter::regex_patterns).collect();
        assert_eq!(patterns, vec!["^a.*z$".to_string(), "node".to_string()]);
    }

    #[test]
    fn unknown_exists_attribute_reads_like_other_unknown_attributes() {
        let message =
            |text: &str| match ListQuery::from_pairs(&pairs(&[("queries[]", text)]), RULES) {
                Err(ApiError::QueryInvalid(m)) => m,
                other => format!("unexpected {other:?}"),
            };
        assert_eq!(
            message(r#"{"method":"exists","values":["secret"]}"#),
            message(r#"{"method":"equal","attribute":"secret","values":["x"]}"#)
        );
        assert_eq!(
            message(r#"{"method":"notExists","values":["secret"]}"#),
            "Invalid query: Attribute not found in schema: secret"
        );
    }

    #[test]
    fn select_keeps_system_attributes() {
        let mut items = vec![serde_json::json!({"$id": "a", "status": "ready", "sourceSize": 3})];
        select_fields(&mut items, &Some(vec!["status".into()]));
        assert_eq!(items[0], serde_json::json!({"$id": "a", "status": "ready"}));
    }
}
