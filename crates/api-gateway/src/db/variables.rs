//! Queries of variables: function-scoped (`resource_type = 'function'`, `resource_id` = function
//! id) and project-wide (`'project'`, `''`). Changing a function's variables marks it not `live`;
//! changing a project variable marks every function of the project not `live`.
use super::schema::{functions, variables};
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::collections::BTreeMap;

pub const FUNCTION: &str = "function";
pub const PROJECT: &str = "project";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = variables, check_for_backend(Pg))]
pub struct VariableRow {
    pub project_id: String,
    pub id: String,
    pub seq: i64,
    pub resource_type: String,
    pub resource_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub key: String,
    pub value: String,
    pub secret: bool,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = variables)]
pub struct NewVariable {
    pub project_id: String,
    pub id: String,
    pub resource_type: String,
    pub resource_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub key: String,
    pub value: String,
    pub secret: bool,
}

#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = variables)]
pub struct VariableChanges {
    pub key: Option<String>,
    pub value: Option<String>,
    pub secret: Option<bool>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// The resource a variable belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Resource<'a> {
    pub project_id: &'a str,
    pub resource_type: &'a str,
    pub resource_id: &'a str,
}

async fn mark_not_live(
    conn: &mut AsyncPgConnection,
    r: Resource<'_>,
) -> Result<(), diesel::result::Error> {
    let mut q = diesel::update(functions::table)
        .filter(functions::project_id.eq(r.project_id))
        .into_boxed();
    if r.resource_type == FUNCTION {
        q = q.filter(functions::id.eq(r.resource_id));
    }
    q.set(functions::live.eq(false)).execute(conn).await?;
    Ok(())
}

/// Inserts; `Ok(None)` when the id or the key is taken (409 `variable_already_exists`).
pub async fn insert(
    conn: &mut AsyncPgConnection,
    row: &NewVariable,
) -> Result<Option<VariableRow>, diesel::result::Error> {
    conn.transaction(|conn| {
        async move {
            let inserted: Option<VariableRow> = diesel::insert_into(variables::table)
                .values(row)
                .on_conflict_do_nothing()
                .returning(VariableRow::as_returning())
                .get_result(conn)
                .await
                .optional()?;
            if inserted.is_some() {
                let r = Resource {
                    project_id: &row.project_id,
                    resource_type: &row.resource_type,
                    resource_id: &row.resource_id,
                };
                mark_not_live(conn, r).await?;
            }
            Ok(inserted)
        }
        .scope_boxed()
    })
    .await
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    r: Resource<'_>,
    id: &str,
) -> Result<Option<VariableRow>, diesel::result::Error> {
    variables::table
        .filter(variables::project_id.eq(r.project_id))
        .filter(variables::resource_type.eq(r.resource_type))
        .filter(variables::resource_id.eq(r.resource_id))
        .filter(variables::id.eq(id))
        .select(VariableRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Whether another variable of the resource already uses `key`.
pub async fn key_taken(
    conn: &mut AsyncPgConnection,
    r: Resource<'_>,
    key: &str,
    except_id: &str,
) -> Result<bool, diesel::result::Error> {
    let n: i64 = variables::table
        .filter(variables::project_id.eq(r.project_id))
        .filter(variables::resource_type.eq(r.resource_type))
        .filter(variables::resource_id.eq(r.resource_id))
        .filter(variables::key.eq(key))
        .filter(variables::id.ne(except_id))
        .count()
        .get_result(conn)
        .await?;
    Ok(n > 0)
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    r: Resource<'_>,
    id: &str,
    changes: &VariableChanges,
) -> Result<Option<VariableRow>, diesel::result::Error> {
    let id = id.to_owned();
    conn.transaction(|conn| {
        async move {
            let updated: Option<VariableRow> = diesel::update(variables::table)
                .filter(variables::project_id.eq(r.project_id))
                .filter(variables::resource_type.eq(r.resource_type))
                .filter(variables::resource_id.eq(r.resource_id))
                .filter(variables::id.eq(&id))
                .set(changes)
                .returning(VariableRow::as_returning())
                .get_result(conn)
                .await
                .optional()?;
            if updated.is_some() {
                mark_not_live(conn, r).await?;
            }
            Ok(updated)
        }
        .scope_boxed()
    })
    .await
}

pub async fn delete(
    conn: &mut AsyncPgConnection,
    r: Resource<'_>,
    id: &str,
) -> Result<bool, diesel::result::Error> {
    let id = id.to_owned();
    conn.transaction(|conn| {
        async move {
            let deleted = diesel::delete(variables::table)
                .filter(variables::project_id.eq(r.project_id))
                .filter(variables::resource_type.eq(r.resource_type))
                .filter(variables::resource_id.eq(r.resource_id))
                .filter(variables::id.eq(&id))
                .execute(conn)
                .await?;
            if deleted > 0 {
                mark_not_live(conn, r).await?;
            }
            Ok(deleted > 0)
        }
        .scope_boxed()
    })
    .await
}

/// The function's own variables in creation order (`Function.vars`).
pub async fn of_function(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    function_id: &str,
) -> Result<Vec<VariableRow>, diesel::result::Error> {
    variables::table
        .filter(variables::project_id.eq(project_id))
        .filter(variables::resource_type.eq(FUNCTION))
        .filter(variables::resource_id.eq(function_id))
        .order(variables::seq.asc())
        .select(VariableRow::as_select())
        .load(conn)
        .await
}

/// Function variables of several functions (lists), grouped by function id.
pub async fn of_functions(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    function_ids: &[String],
) -> Result<BTreeMap<String, Vec<VariableRow>>, diesel::result::Error> {
    let rows: Vec<VariableRow> = variables::table
        .filter(variables::project_id.eq(project_id))
        .filter(variables::resource_type.eq(FUNCTION))
        .filter(variables::resource_id.eq_any(function_ids))
        .order(variables::seq.asc())
        .select(VariableRow::as_select())
        .load(conn)
        .await?;
    let mut out: BTreeMap<String, Vec<VariableRow>> = BTreeMap::new();
    for row in rows {
        out.entry(row.resource_id.clone()).or_default().push(row);
    }
    Ok(out)
}

/// The user-defined environment of a function: project variables overridden by the function's
/// own (the platform's `APPWRITE_*` values are laid over this by `jobs`).
pub async fn env(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    function_id: &str,
) -> Result<BTreeMap<String, String>, diesel::result::Error> {
    let rows: Vec<(String, String, String)> = variables::table
        .filter(variables::project_id.eq(project_id))
        .filter(
            variables::resource_type
                .eq(PROJECT)
                .or(variables::resource_type
                    .eq(FUNCTION)
                    .and(variables::resource_id.eq(function_id))),
        )
        .select((variables::resource_type, variables::key, variables::value))
        .load(conn)
        .await?;
    let mut env = BTreeMap::new();
    for pass in [PROJECT, FUNCTION] {
        for (kind, key, value) in rows.iter().filter(|(k, _, _)| k == pass) {
            let _ = kind;
            env.insert(key.clone(), value.clone());
        }
    }
    Ok(env)
}
