//! Queries of proxy rules (function domains). A domain belongs to one rule across all projects.
use super::listing::run_list;
use super::schema::rules;
use crate::col;
use crate::error::ApiError;
use crate::query::{Col, ListQuery, Rules};
use chrono::{DateTime, Utc};
use diesel::expression::BoxableExpression;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = rules, check_for_backend(Pg))]
pub struct RuleRow {
    pub id: String,
    pub project_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub domain: String,
    pub type_: String,
    pub trigger: String,
    pub deployment_resource_type: String,
    pub deployment_resource_id: String,
    pub deployment_vcs_provider_branch: String,
    pub status: String,
}

/// A function rule to insert (the id is derived from the domain by the database).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = rules)]
pub struct NewFunctionRule {
    pub project_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub domain: String,
    pub trigger: String,
    pub deployment_resource_id: String,
    pub deployment_vcs_provider_branch: String,
}

pub const QUERY_RULES: Rules = Rules {
    attributes: &[
        "domain",
        "type",
        "trigger",
        "deploymentResourceType",
        "deploymentResourceId",
        "deploymentVcsProviderBranch",
        "status",
    ],
    select: false,
};

/// Inserts; `Ok(None)` when the domain is taken.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    rule: &NewFunctionRule,
) -> Result<Option<RuleRow>, diesel::result::Error> {
    diesel::insert_into(rules::table)
        .values(rule)
        .on_conflict_do_nothing()
        .returning(RuleRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// The rule serving `domain` (any project).
pub async fn find_by_domain(
    conn: &mut AsyncPgConnection,
    domain: &str,
) -> Result<Option<RuleRow>, diesel::result::Error> {
    rules::table
        .find(domain)
        .select(RuleRow::as_select())
        .first(conn)
        .await
        .optional()
}

fn column(attribute: &str) -> Option<Col<rules::table>> {
    use rules as r;
    Some(match attribute {
        "$id" => col!(Text, r::id),
        "$createdAt" => col!(Time, r::created_at),
        "$updatedAt" => col!(Time, r::updated_at),
        "$sequence" => col!(Int8, r::seq),
        "domain" => col!(Text, r::domain),
        "type" => col!(Text, r::type_),
        "trigger" => col!(Text, r::trigger),
        "deploymentResourceType" => col!(Text, r::deployment_resource_type),
        "deploymentResourceId" => col!(Text, r::deployment_resource_id),
        "deploymentVcsProviderBranch" => col!(Text, r::deployment_vcs_provider_branch),
        "status" => col!(Text, r::status),
        _ => return None,
    })
}

fn search() -> Vec<Box<dyn BoxableExpression<rules::table, Pg, SqlType = Text>>> {
    vec![Box::new(rules::id), Box::new(rules::domain)]
}

/// The project's rules matching `q`: (total, page).
pub async fn list(
    conn: &mut AsyncPgConnection,
    project_id: &str,
    q: &ListQuery,
) -> Result<(i64, Vec<RuleRow>), ApiError> {
    let base = || {
        rules::table
            .filter(rules::project_id.eq(project_id.to_owned()))
            .into_boxed()
    };
    run_list!(conn, q, base, (column, search), "Rule", RuleRow)
}
