//! Query-string upgrades for old clients (spec 14 "Request upgrades", spec 5).
//!
//! `upgrade_pairs` rewrites the query-string pairs of a list request before the handler reads
//! them, so `query.rs` only ever sees today's JSON queries:
//! - below 1.5.0 SDKs sent queries in the string syntax `equal("status", ["ready"])`, `limit(25)`,
//!   `orderDesc("$createdAt")` (`parse_legacy` turns them into the JSON form);
//! - below 1.7.0 attributes were named after the old models: `deployment` (functions,
//!   executions) is `deploymentId`, a deployment's `size` is `sourceSize` (`totalSize` below
//!   1.4.0, whose `size` included the build) and `buildTime` is `buildDuration`; below 1.4.0 an
//!   execution's `statusCode` is `responseStatusCode` and a variable's `functionId` is
//!   `resourceId`. `listExecutions` dropped its top-level `search` in 1.7.0;
//! - below 1.0.0 lists were paged with `limit`, `offset`, `cursor`/`cursorDirection`,
//!   `orderType` and `orderAttributes[]`/`orderTypes[]` parameters instead of queries.
use super::Version;
use serde_json::{json, Map, Value};

/// The list a request reads (the collections of spec 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    Functions,
    Deployments,
    Executions,
    Variables,
}

impl Collection {
    /// The collection a GET on this route pattern lists, if any.
    pub fn of_list_route(pattern: &str) -> Option<Self> {
        let segments: Vec<&str> = pattern
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        match segments.as_slice() {
            ["v1", "functions"] => Some(Self::Functions),
            ["v1", "functions", _, "deployments"] => Some(Self::Deployments),
            ["v1", "functions", _, "executions"] => Some(Self::Executions),
            ["v1", "functions", _, "variables"] | ["v1", "project", "variables"] => {
                Some(Self::Variables)
            }
            _ => None,
        }
    }
}

/// Today's name of an attribute an old client's query names.
pub fn attribute(collection: Collection, format: Version, name: &str) -> String {
    let below_1_4 = format < Version(1, 4, 0);
    let renamed = match (collection, name) {
        _ if format >= Version(1, 7, 0) => None,
        (Collection::Functions | Collection::Executions, "deployment") => Some("deploymentId"),
        (Collection::Deployments, "size") if below_1_4 => Some("totalSize"),
        (Collection::Deployments, "size") => Some("sourceSize"),
        (Collection::Deployments, "buildTime") => Some("buildDuration"),
        (Collection::Executions, "statusCode") if below_1_4 => Some("responseStatusCode"),
        (Collection::Variables, "functionId") if below_1_4 => Some("resourceId"),
        _ => None,
    };
    renamed.unwrap_or(name).to_owned()
}

/// Methods of the string syntax that name no attribute: all their arguments are values.
const NO_ATTRIBUTE: &[&str] = &[
    "limit",
    "offset",
    "cursorAfter",
    "cursorBefore",
    "orderRandom",
    "select",
    "exists",
    "notExists",
];

/// A query in the string syntax of SDKs before 1.5 (`equal("attr", ["a", "b"])`, `equal("attr",
/// "a")`, `limit(25)`, `orderDesc("")`) as the JSON query of today, or `None` when `text` is not
/// in that syntax. Strings take `"` or `'` with backslash escapes; numbers, `true`, `false` and
/// `null` are literals; arrays are flattened into the values. An empty order attribute (old
/// SDKs' "default order") is insertion order, `$sequence`.
pub fn parse_legacy(text: &str) -> Option<Value> {
    let mut p = Parser {
        chars: text.trim().chars().collect(),
        at: 0,
    };
    let method = p.ident()?;
    p.expect('(')?;
    let mut args: Vec<Arg> = Vec::new();
    p.skip_ws();
    if p.peek() != Some(')') {
        loop {
            args.push(p.arg()?);
            p.skip_ws();
            match p.next()? {
                ',' => continue,
                ')' => break,
                _ => return None,
            }
        }
    } else {
        p.next();
    }
    p.skip_ws();
    if p.peek().is_some() {
        return None;
    }
    let mut out = Map::new();
    out.insert("method".into(), Value::from(method.as_str()));
    let mut rest = args.into_iter();
    if !NO_ATTRIBUTE.contains(&method.as_str()) && !matches!(method.as_str(), "and" | "or") {
        let attribute = match rest.next() {
            Some(Arg::One(Value::String(s))) => s,
            None if method == "orderAsc" || method == "orderDesc" => String::new(),
            _ => return None,
        };
        let attribute = if attribute.is_empty() && method.starts_with("order") {
            "$sequence".to_owned()
        } else {
            attribute
        };
        out.insert("attribute".into(), Value::from(attribute));
    }
    let values: Vec<Value> = rest
        .flat_map(|arg| match arg {
            Arg::One(v) => vec![v],
            Arg::Many(vs) => vs,
        })
        .collect();
    if !values.is_empty() {
        out.insert("values".into(), Value::Array(values));
    }
    Some(Value::Object(out))
}

enum Arg {
    One(Value),
    Many(Vec<Value>),
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += 1;
        Some(c)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn expect(&mut self, c: char) -> Option<()> {
        self.skip_ws();
        (self.next()? == c).then_some(())
    }

    fn ident(&mut self) -> Option<String> {
        self.skip_ws();
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
            self.at += 1;
        }
        let ident: String = self.chars[start..self.at].iter().collect();
        ident
            .starts_with(|c: char| c.is_ascii_alphabetic())
            .then_some(ident)
    }

    fn arg(&mut self) -> Option<Arg> {
        self.skip_ws();
        if self.peek() != Some('[') {
            return self.scalar().map(Arg::One);
        }
        self.next();
        let mut values = Vec::new();
        self.skip_ws();
        if self.peek() == Some(']') {
            self.next();
            return Some(Arg::Many(values));
        }
        loop {
            values.push(self.scalar()?);
            self.skip_ws();
            match self.next()? {
                ',' => continue,
                ']' => return Some(Arg::Many(values)),
                _ => return None,
            }
        }
    }

    fn scalar(&mut self) -> Option<Value> {
        self.skip_ws();
        match self.peek()? {
            quote @ ('"' | '\'') => {
                self.next();
                let mut s = String::new();
                loop {
                    match self.next()? {
                        '\\' => s.push(self.next()?),
                        c if c == quote => return Some(Value::from(s)),
                        c => s.push(c),
                    }
                }
            }
            _ => {
                let start = self.at;
                while self
                    .peek()
                    .is_some_and(|c| !matches!(c, ',' | ')' | ']') && !c.is_whitespace())
                {
                    self.at += 1;
                }
                let word: String = self.chars[start..self.at].iter().collect();
                match word.as_str() {
                    "true" => Some(Value::from(true)),
                    "false" => Some(Value::from(false)),
                    "null" => Some(Value::Null),
                    _ => serde_json::from_str::<serde_json::Number>(&word)
                        .ok()
                        .map(Value::Number),
                }
            }
        }
    }
}

fn is_queries_key(key: &str) -> bool {
    key == "queries"
        || key
            .strip_prefix("queries[")
            .is_some_and(|rest| rest.ends_with(']'))
}

/// Renames the attributes of one JSON query (and of the queries nested in `or`/`and`).
fn rename_in(collection: Collection, format: Version, query: &mut Value) {
    let Value::Object(m) = query else {
        return;
    };
    if let Some(Value::String(name)) = m.get("attribute") {
        let renamed = attribute(collection, format, name);
        m.insert("attribute".into(), Value::from(renamed));
    }
    let method = m.get("method").and_then(Value::as_str).unwrap_or_default();
    let nested = matches!(method, "and" | "or");
    let names = matches!(method, "select" | "exists" | "notExists");
    if let Some(Value::Array(values)) = m.get_mut("values") {
        for value in values.iter_mut() {
            if nested {
                rename_in(collection, format, value);
            } else if names {
                if let Value::String(name) = value {
                    *name = attribute(collection, format, name);
                }
            }
        }
    }
}

/// One query value as today's JSON text, or unchanged when it can't be read (the handler then
/// answers `general_query_invalid` for it).
fn upgrade_query(collection: Collection, format: Version, text: &str) -> String {
    let json = serde_json::from_str::<Value>(text)
        .ok()
        .filter(Value::is_object);
    let parsed = match json {
        Some(v) => Some(v),
        None if format < Version(1, 5, 0) => parse_legacy(text),
        None => None,
    };
    match parsed {
        Some(mut query) => {
            rename_in(collection, format, &mut query);
            query.to_string()
        }
        None => text.to_owned(),
    }
}

/// The paging parameters of formats below 1.0.0 as queries.
fn legacy_params(pairs: &mut Vec<(String, String)>) -> Vec<Value> {
    let mut take = |name: &str| -> Vec<String> {
        let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(pairs)
            .into_iter()
            .partition(|(k, _)| k == name || k.strip_suffix("[]") == Some(name));
        *pairs = kept;
        taken.into_iter().map(|(_, v)| v).collect()
    };
    let number = |v: &str| -> Value {
        v.trim()
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::from(v))
    };
    let order = |kind: &str| {
        if kind.eq_ignore_ascii_case("desc") {
            "orderDesc"
        } else {
            "orderAsc"
        }
    };
    let mut queries = Vec::new();
    for v in take("limit") {
        queries.push(json!({"method": "limit", "values": [number(&v)]}));
    }
    for v in take("offset") {
        queries.push(json!({"method": "offset", "values": [number(&v)]}));
    }
    let direction = take("cursorDirection");
    for v in take("cursor").into_iter().filter(|v| !v.is_empty()) {
        let before = direction.iter().any(|d| d.eq_ignore_ascii_case("before"));
        let method = if before {
            "cursorBefore"
        } else {
            "cursorAfter"
        };
        queries.push(json!({"method": method, "values": [v]}));
    }
    let types = take("orderTypes");
    for (i, attribute) in take("orderAttributes").into_iter().enumerate() {
        let kind = types.get(i).map(String::as_str).unwrap_or("ASC");
        let attribute = if attribute.is_empty() {
            "$sequence".to_owned()
        } else {
            attribute
        };
        queries.push(json!({"method": order(kind), "attribute": attribute}));
    }
    for kind in take("orderType").into_iter().filter(|k| !k.is_empty()) {
        queries.push(json!({"method": order(&kind), "attribute": "$sequence"}));
    }
    queries
}

/// Today's query-string pairs for an old client's list request (see the module docs).
pub fn upgrade_pairs(
    collection: Collection,
    format: Version,
    mut pairs: Vec<(String, String)>,
) -> Vec<(String, String)> {
    if format >= Version(1, 7, 0) {
        return pairs;
    }
    let extra = if format < Version(1, 0, 0) {
        legacy_params(&mut pairs)
    } else {
        Vec::new()
    };
    let mut out: Vec<(String, String)> = pairs
        .into_iter()
        .filter(|(k, _)| !(collection == Collection::Executions && k == "search"))
        .map(|(k, v)| {
            if is_queries_key(&k) {
                let v = upgrade_query(collection, format, &v);
                (k, v)
            } else {
                (k, v)
            }
        })
        .collect();
    for query in extra {
        out.push(("queries[]".into(), query.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(raw: &[(&str, &str)]) -> Vec<(String, String)> {
        raw.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn query_values(out: &[(String, String)]) -> Vec<Value> {
        out.iter()
            .filter(|(k, _)| is_queries_key(k))
            .map(|(_, v)| serde_json::from_str(v).unwrap_or(Value::Null))
            .collect()
    }

    #[test]
    fn legacy_string_queries_parse_into_json() {
        let cases = [
            (
                r#"equal("status", ["ready"])"#,
                json!({"method": "equal", "attribute": "status", "values": ["ready"]}),
            ),
            (
                r#"equal("status", "ready")"#,
                json!({"method": "equal", "attribute": "status", "values": ["ready"]}),
            ),
            (
                r#"equal("trigger",["http","schedule"])"#,
                json!({"method": "equal", "attribute": "trigger", "values": ["http", "schedule"]}),
            ),
            ("limit(25)", json!({"method": "limit", "values": [25]})),
            ("offset(0)", json!({"method": "offset", "values": [0]})),
            (
                r#"cursorAfter("abc")"#,
                json!({"method": "cursorAfter", "values": ["abc"]}),
            ),
            (
                r#"orderDesc("$createdAt")"#,
                json!({"method": "orderDesc", "attribute": "$createdAt"}),
            ),
            (
                r#"orderAsc("")"#,
                json!({"method": "orderAsc", "attribute": "$sequence"}),
            ),
            (
                r#"isNull("schedule")"#,
                json!({"method": "isNull", "attribute": "schedule"}),
            ),
            (
                r#"between("duration", 0.5, 10)"#,
                json!({"method": "between", "attribute": "duration", "values": [0.5, 10]}),
            ),
            (
                r#"greaterThan("timeout", [15])"#,
                json!({"method": "greaterThan", "attribute": "timeout", "values": [15]}),
            ),
            (
                r#"equal('enabled', [true])"#,
                json!({"method": "equal", "attribute": "enabled", "values": [true]}),
            ),
            (
                r#"search("name", "say \"hi\", friend")"#,
                json!({"method": "search", "attribute": "name", "values": ["say \"hi\", friend"]}),
            ),
            (
                r#" select(["name", "status"]) "#,
                json!({"method": "select", "values": ["name", "status"]}),
            ),
            ("orderRandom()", json!({"method": "orderRandom"})),
        ];
        for (text, want) in cases {
            assert_eq!(parse_legacy(text), Some(want), "{text}");
        }
    }

    #[test]
    fn text_that_is_not_a_legacy_query_is_rejected() {
        for text in [
            "",
            "limit",
            "limit(25",
            "limit(25))",
            r#"equal("a", ["b")"#,
            r#"equal("a", "b)"#,
            "equal(status, [1])",
            r#"equal(5, [1])"#,
            r#"{"method":"limit","values":[1]}"#,
            "1limit(2)",
        ] {
            assert_eq!(parse_legacy(text), None, "{text:?}");
        }
    }

    #[test]
    fn attributes_are_renamed_below_1_7_only() {
        use Collection::*;
        let v = |s| Version::parse(s).unwrap_or(Version(0, 0, 0));
        let cases = [
            (Functions, "1.6.0", "deployment", "deploymentId"),
            (Functions, "1.0.0", "deployment", "deploymentId"),
            (Functions, "1.7.0", "deployment", "deployment"),
            (Executions, "1.5.0", "deployment", "deploymentId"),
            (Deployments, "1.6.0", "size", "sourceSize"),
            (Deployments, "1.4.0", "size", "sourceSize"),
            (Deployments, "1.3.0", "size", "totalSize"),
            (Deployments, "1.6.0", "buildTime", "buildDuration"),
            (Deployments, "1.8.0", "size", "size"),
            (Deployments, "1.6.0", "deployment", "deployment"),
            (Executions, "1.0.0", "statusCode", "responseStatusCode"),
            (Executions, "1.4.0", "statusCode", "statusCode"),
            (Variables, "1.0.0", "functionId", "resourceId"),
            (Functions, "1.6.0", "name", "name"),
        ];
        for (collection, format, from, to) in cases {
            assert_eq!(
                attribute(collection, v(format), from),
                to,
                "{collection:?} {format} {from}"
            );
        }
    }

    #[test]
    fn old_clients_query_strings_are_upgraded() {
        let out = upgrade_pairs(
            Collection::Functions,
            Version(1, 0, 0),
            pairs(&[
                ("queries[]", r#"equal("deployment", ["d1"])"#),
                ("queries[]", "limit(5)"),
                ("search", "hello"),
            ]),
        );
        assert_eq!(
            query_values(&out),
            vec![
                json!({"method": "equal", "attribute": "deploymentId", "values": ["d1"]}),
                json!({"method": "limit", "values": [5]}),
            ]
        );
        assert!(out.contains(&("search".into(), "hello".into())));

        // 1.5/1.6 SDKs send JSON queries with the old attribute names.
        let out = upgrade_pairs(
            Collection::Deployments,
            Version(1, 6, 0),
            pairs(&[
                ("queries[0]", r#"{"method":"orderDesc","attribute":"size"}"#),
                (
                    "queries[1]",
                    r#"{"method":"or","values":[{"method":"equal","attribute":"buildTime","values":[1]},{"method":"equal","attribute":"status","values":["ready"]}]}"#,
                ),
            ]),
        );
        assert_eq!(out[0].0, "queries[0]");
        assert_eq!(
            query_values(&out),
            vec![
                json!({"method": "orderDesc", "attribute": "sourceSize"}),
                json!({"method": "or", "values": [
                    {"method": "equal", "attribute": "buildDuration", "values": [1]},
                    {"method": "equal", "attribute": "status", "values": ["ready"]}
                ]}),
            ]
        );
    }

    #[test]
    fn string_syntax_is_only_read_below_1_5_and_bad_text_passes_through() {
        let raw = pairs(&[("queries[]", "limit(5)")]);
        assert_eq!(
            upgrade_pairs(Collection::Functions, Version(1, 5, 0), raw.clone()),
            raw
        );
        let bad = pairs(&[("queries[]", "limit(")]);
        assert_eq!(
            upgrade_pairs(Collection::Functions, Version(1, 0, 0), bad.clone()),
            bad
        );
    }

    #[test]
    fn list_executions_search_is_dropped_below_1_7() {
        let raw = pairs(&[("search", "x"), ("queries[]", "limit(1)")]);
        let out = upgrade_pairs(Collection::Executions, Version(1, 4, 0), raw.clone());
        assert!(out.iter().all(|(k, _)| k != "search"));
        assert_eq!(
            upgrade_pairs(Collection::Executions, Version(1, 7, 0), raw.clone()),
            raw
        );
    }

    #[test]
    fn pre_1_0_paging_params_become_queries() {
        let out = upgrade_pairs(
            Collection::Deployments,
            Version(0, 15, 0),
            pairs(&[
                ("search", "s"),
                ("limit", "10"),
                ("offset", "2"),
                ("cursor", "dep9"),
                ("cursorDirection", "before"),
                ("orderType", "DESC"),
            ]),
        );
        assert_eq!(out[0], ("search".into(), "s".into()));
        assert_eq!(
            query_values(&out),
            vec![
                json!({"method": "limit", "values": [10]}),
                json!({"method": "offset", "values": [2]}),
                json!({"method": "cursorBefore", "values": ["dep9"]}),
                json!({"method": "orderDesc", "attribute": "$sequence"}),
            ]
        );
        let out = upgrade_pairs(
            Collection::Functions,
            Version(0, 15, 0),
            pairs(&[
                ("cursor", "f1"),
                ("orderAttributes[]", "name"),
                ("orderTypes[]", "DESC"),
                ("orderAttributes[]", ""),
            ]),
        );
        assert_eq!(
            query_values(&out),
            vec![
                json!({"method": "cursorAfter", "values": ["f1"]}),
                json!({"method": "orderDesc", "attribute": "name"}),
                json!({"method": "orderAsc", "attribute": "$sequence"}),
            ]
        );
        // from 1.0 on these names are not paging parameters
        let raw = pairs(&[("limit", "10")]);
        assert_eq!(
            upgrade_pairs(Collection::Functions, Version(1, 0, 0), raw.clone()),
            raw
        );
    }

    #[test]
    fn list_routes_map_to_collections() {
        use Collection::*;
        for (pattern, want) in [
            ("/v1/functions", Some(Functions)),
            ("/v1/functions/{functionId}/deployments", Some(Deployments)),
            ("/v1/functions/{functionId}/executions", Some(Executions)),
            ("/v1/functions/{functionId}/variables", Some(Variables)),
            ("/v1/project/variables", Some(Variables)),
            ("/v1/functions/{functionId}", None),
            ("/v1/functions/runtimes", None),
            ("/v1/functions/{functionId}/executions/{executionId}", None),
        ] {
            assert_eq!(Collection::of_list_route(pattern), want, "{pattern}");
        }
    }
}
