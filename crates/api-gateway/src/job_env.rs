//! What a job needs besides the function row: the user variables (project variables < function
//! variables < the platform's `APPWRITE_*` values, spec 7.7) and the function's ephemeral API key
//! (spec 7.4: `x-appwrite-key` on executions, `APPWRITE_FUNCTION_API_KEY` on builds), limited to
//! the function's `scopes` and valid for the function timeout (build timeout) plus 60 s.
use crate::db::functions::FunctionRow;
use crate::settings::Settings;
use diesel_async::AsyncPgConnection;
use model::proto::{BuildJob, ExecutionJob, Header};
use secrecy::ExposeSecret;
use std::collections::BTreeMap;

/// Lays `user` variables under `env`: a key already in `env` (a platform value) wins.
pub fn merge_under(env: &mut BTreeMap<String, String>, user: BTreeMap<String, String>) {
    for (k, v) in user {
        env.entry(k).or_insert(v);
    }
}

fn key_for(settings: &Settings, function: &FunctionRow, ttl_seconds: i64) -> String {
    crate::tokens::ephemeral_key(
        settings.auth.api_key.expose_secret(),
        &function.project_id,
        &function.id,
        &function.scopes,
        chrono::Utc::now().timestamp(),
        ttl_seconds,
    )
}

/// Adds variables and the `x-appwrite-key` header to an execution job.
pub async fn complete_execution_job(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    function: &FunctionRow,
    job: &mut ExecutionJob,
) -> Result<(), diesel::result::Error> {
    let user = crate::db::variables::env(conn, &function.project_id, &function.id).await?;
    merge_under(&mut job.env, user);
    let key = key_for(settings, function, i64::from(function.timeout.max(1)) + 60);
    job.headers
        .retain(|h| !h.name.eq_ignore_ascii_case("x-appwrite-key"));
    job.headers.push(Header {
        name: "x-appwrite-key".into(),
        value: key,
    });
    Ok(())
}

/// Adds variables and `APPWRITE_FUNCTION_API_KEY` to a build job.
pub async fn complete_build_job(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    function: &FunctionRow,
    job: &mut BuildJob,
) -> Result<(), diesel::result::Error> {
    let user = crate::db::variables::env(conn, &function.project_id, &function.id).await?;
    merge_under(&mut job.env, user);
    let key = key_for(
        settings,
        function,
        i64::from(settings.build.timeout_seconds) + 60,
    );
    job.env.insert("APPWRITE_FUNCTION_API_KEY".into(), key);
    Ok(())
}

/// The encoded `BuildJob` of `deployment`, with variables and the build's API key.
pub async fn build_job_bytes(
    state: &crate::startup::AppState,
    function: &FunctionRow,
    deployment: &crate::db::deployments::DeploymentRow,
) -> Result<Vec<u8>, crate::error::ApiError> {
    use prost::Message;
    let mut job = crate::jobs::build_job(&state.settings, function, deployment);
    let mut conn = state.pool.get().await?;
    complete_build_job(&mut conn, &state.settings, function, &mut job).await?;
    Ok(job.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_values_win() {
        let mut env = BTreeMap::from([("APPWRITE_FUNCTION_ID".to_owned(), "real".to_owned())]);
        merge_under(
            &mut env,
            BTreeMap::from([
                ("APPWRITE_FUNCTION_ID".to_owned(), "fake".to_owned()),
                ("MY_VAR".to_owned(), "v".to_owned()),
            ]),
        );
        assert_eq!(env["APPWRITE_FUNCTION_ID"], "real");
        assert_eq!(env["MY_VAR"], "v");
    }
}
