//! The list queries of every collection (functions, deployments, executions, variables): the
//! attribute -> column mapping of spec 5 and one generic paging routine over `query::Plan`.
//! Every query is scoped to the caller's project (and function) before any user filter.
use super::deployments::DeploymentRow;
use super::executions::ExecutionRow;
use super::functions::FunctionRow;
use super::schema::{deployments, executions, functions, variables};
use super::variables::VariableRow;
use crate::col;
use crate::error::ApiError;
use crate::query::{self, Col, ListQuery, Rules};
use diesel::expression::BoxableExpression;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

pub const FUNCTION_RULES: Rules = Rules {
    attributes: &[
        "name",
        "enabled",
        "runtime",
        "deploymentId",
        "schedule",
        "timeout",
        "entrypoint",
        "commands",
        "installationId",
    ],
    select: false,
};

pub const DEPLOYMENT_RULES: Rules = Rules {
    attributes: &[
        "buildSize",
        "sourceSize",
        "totalSize",
        "buildDuration",
        "status",
        "activate",
        "type",
    ],
    select: true,
};

pub const EXECUTION_RULES: Rules = Rules {
    attributes: &[
        "trigger",
        "status",
        "responseStatusCode",
        "duration",
        "requestMethod",
        "requestPath",
        "deploymentId",
    ],
    select: false,
};

pub const VARIABLE_RULES: Rules = Rules {
    attributes: &["key", "resourceType", "resourceId", "secret"],
    select: false,
};

type TextCol<T> = Box<dyn BoxableExpression<T, Pg, SqlType = Text>>;

fn function_column(attribute: &str) -> Option<Col<functions::table>> {
    use functions as f;
    Some(match attribute {
        "$id" => col!(Text, f::id),
        "$createdAt" => col!(Time, f::created_at),
        "$updatedAt" => col!(Time, f::updated_at),
        "$sequence" => col!(Int8, f::seq),
        "name" => col!(Text, f::name),
        "enabled" => col!(Bool, f::enabled),
        "runtime" => col!(Text, f::runtime),
        "deploymentId" => col!(Text, f::deployment_id),
        "schedule" => col!(Text, f::schedule),
        "timeout" => col!(Int4, f::timeout),
        "entrypoint" => col!(Text, f::entrypoint),
        "commands" => col!(Text, f::commands),
        "installationId" => col!(Text, f::installation_id),
        _ => return None,
    })
}

fn function_search() -> Vec<TextCol<functions::table>> {
    vec![
        Box::new(functions::id),
        Box::new(functions::name),
        Box::new(functions::runtime),
    ]
}

fn deployment_column(attribute: &str) -> Option<Col<deployments::table>> {
    use deployments as d;
    Some(match attribute {
        "$id" => col!(Text, d::id),
        "$createdAt" => col!(Time, d::created_at),
        "$updatedAt" => col!(Time, d::updated_at),
        "$sequence" => col!(Int8, d::seq),
        "buildSize" => col!(Int8, d::build_size),
        "sourceSize" => col!(Int8, d::source_size),
        "totalSize" => col!(Int8, d::source_size + d::build_size),
        "buildDuration" => col!(Int4, d::build_duration),
        "status" => col!(Text, d::status),
        "activate" => col!(Bool, d::activate),
        "type" => col!(Text, d::type_),
        _ => return None,
    })
}

fn deployment_search() -> Vec<TextCol<deployments::table>> {
    vec![
        Box::new(deployments::id),
        Box::new(deployments::entrypoint),
        Box::new(deployments::status),
        Box::new(deployments::type_),
    ]
}

fn execution_column(attribute: &str) -> Option<Col<executions::table>> {
    use executions as e;
    Some(match attribute {
        "$id" => col!(Text, e::id),
        "$createdAt" => col!(Time, e::created_at),
        "$updatedAt" => col!(Time, e::updated_at),
        "$sequence" => col!(Int8, e::seq),
        "trigger" => col!(Text, e::trigger),
        "status" => col!(Text, e::status),
        "responseStatusCode" => col!(Int4, e::response_status_code),
        "duration" => col!(Float, e::duration),
        "requestMethod" => col!(Text, e::request_method),
        "requestPath" => col!(Text, e::request_path),
        "deploymentId" => col!(Text, e::deployment_id),
        _ => return None,
    })
}

fn execution_search() -> Vec<TextCol<executions::table>> {
    vec![
        Box::new(executions::id),
        Box::new(executions::status),
        Box::new(executions::request_path),
    ]
}

fn variable_column(attribute: &str) -> Option<Col<variables::table>> {
    use variables as v;
    Some(match attribute {
        "$id" => col!(Text, v::id),
        "$createdAt" => col!(Time, v::created_at),
        "$updatedAt" => col!(Time, v::updated_at),
        "$sequence" => col!(Int8, v::seq),
        "key" => col!(Text, v::key),
        "resourceType" => col!(Text, v::resource_type),
        "resourceId" => col!(Text, v::resource_id),
        "secret" => col!(Bool, v::secret),
        _ => return None,
    })
}

fn variable_search() -> Vec<TextCol<variables::table>> {
    vec![Box::new(variables::id), Box::new(variables::key)]
}

/// Checks every `regex` pattern of the query with PostgreSQL itself (its regular-expression
/// dialect is the one that runs), so an invalid pattern is a 400 `general_query_invalid`.
pub(crate) async fn check_patterns(
    conn: &mut AsyncPgConnection,
    q: &ListQuery,
) -> Result<(), ApiError> {
    for pattern in q.filters.iter().flat_map(query::Filter::regex_patterns) {
        let checked = diesel::select(
            diesel::dsl::sql::<diesel::sql_types::Bool>("'' ~ ").bind::<Text, _>(&pattern),
        )
        .get_result::<bool>(conn)
        .await;
        match checked {
            Ok(_) => {}
            Err(diesel::result::Error::DatabaseError(_, info)) => {
                return Err(ApiError::QueryInvalid(format!(
                    "Invalid query: Invalid regular expression \"{pattern}\": {}",
                    info.message()
                )))
            }
            Err(other) => return Err(other.into()),
        }
    }
    Ok(())
}

/// Runs count + page for one collection. `$base` is a closure giving the scoped boxed query;
/// `$columns` the collection's `query::Columns`; `$kind` names the document in
/// `general_cursor_not_found`. The cursor document is looked up in the same scoped query, so a
/// cursor outside the caller's scope is not found. Other collections' db modules use it too
/// (`use super::listing::run_list;`).
macro_rules! run_list {
    ($conn:expr, $q:expr, $base:expr, $columns:expr, $kind:expr, $row:ty) => {{
        $crate::db::listing::check_patterns($conn, $q).await?;
        let columns = $columns;
        let cursor = match $q.cursor_lookup(&columns)? {
            None => None,
            Some(lookup) => {
                let mut values = $crate::query::CursorValues::new();
                for (attribute, by_id, value) in lookup.reads {
                    let found: Option<serde_json::Value> = $base()
                        .filter(by_id)
                        .select(value)
                        .first($conn)
                        .await
                        .optional()?;
                    let found = found.ok_or_else(|| {
                        $crate::error::ApiError::CursorNotFound(format!(
                            "{} '{}' for the 'cursor' value not found.",
                            $kind, lookup.id
                        ))
                    })?;
                    values.insert(attribute, found);
                }
                Some(values)
            }
        };
        let cursor = cursor.as_ref();
        let total = if $q.total {
            let plan = $crate::query::Plan::build($q, &columns, cursor)?;
            let mut query = $base();
            if let Some(p) = plan.filter {
                query = query.filter(p);
            }
            query.count().get_result::<i64>($conn).await?
        } else {
            0
        };
        let plan = $crate::query::Plan::build($q, &columns, cursor)?;
        let mut query = $base();
        if let Some(p) = plan.filter {
            query = query.filter(p);
        }
        if let Some(p) = plan.cursor {
            query = query.filter(p);
        }
        for order in plan.orders {
            query = query.then_order_by(order);
        }
        let mut rows: Vec<$row> = query
            .limit($q.limit)
            .offset($q.offset)
            .select(<$row>::as_select())
            .load($conn)
            .await?;
        if plan.reverse {
            rows.reverse();
        }
        Ok(($crate::query::cap_total(total, $q.total), rows))
    }};
}
pub(crate) use run_list;

pub async fn functions(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    q: &ListQuery,
) -> Result<(i64, Vec<FunctionRow>), ApiError> {
    let base = || {
        functions::table
            .filter(functions::project_id.eq(project_id.to_owned()))
            .into_boxed()
    };
    run_list!(
        conn,
        q,
        base,
        (function_column, function_search),
        "Function",
        FunctionRow
    )
}

pub async fn deployments(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    function_id: &str,
    q: &ListQuery,
) -> Result<(i64, Vec<DeploymentRow>), ApiError> {
    let base = || {
        deployments::table
            .filter(deployments::project_id.eq(project_id.to_owned()))
            .filter(deployments::function_id.eq(function_id.to_owned()))
            .into_boxed()
    };
    run_list!(
        conn,
        q,
        base,
        (deployment_column, deployment_search),
        "Deployment",
        DeploymentRow
    )
}

/// `owner`: only the executions that user started (a JWT caller); `None` for keys.
pub async fn executions(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    function_id: &str,
    owner: Option<&str>,
    q: &ListQuery,
) -> Result<(i64, Vec<ExecutionRow>), ApiError> {
    let base = || {
        let query = executions::table
            .filter(executions::project_id.eq(project_id.to_owned()))
            .filter(executions::function_id.eq(function_id.to_owned()))
            .into_boxed();
        match owner {
            Some(user) => query.filter(executions::user_id.eq(user.to_owned())),
            None => query,
        }
    };
    run_list!(
        conn,
        q,
        base,
        (execution_column, execution_search),
        "Execution",
        ExecutionRow
    )
}

/// Variables of one resource: (`function`, function id) or (`project`, '').
pub async fn variables(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    resource_type: &str,
    resource_id: &str,
    q: &ListQuery,
) -> Result<(i64, Vec<VariableRow>), ApiError> {
    let base = || {
        variables::table
            .filter(variables::project_id.eq(project_id.to_owned()))
            .filter(variables::resource_type.eq(resource_type.to_owned()))
            .filter(variables::resource_id.eq(resource_id.to_owned()))
            .into_boxed()
    };
    run_list!(
        conn,
        q,
        base,
        (variable_column, variable_search),
        "Variable",
        VariableRow
    )
}
