//! `POST /v1/functions/{functionId}/executions` (spec 2.3, 7): async => execution row + job in
//! one transaction, 202; sync => execution row, RPC to an executor, 201 with the response (or 408
//! when no answer comes in time).
use crate::auth::{Authorized, Caller, ExecutionsWrite};
use crate::db::executions::{self, PROCESSING};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::{jobs, wire};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use prost::Message;

pub async fn handler(
    auth: Authorized<ExecutionsWrite>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    input: super::encoding::ExecutionInput,
) -> Result<HttpResponse, ApiError> {
    // Pre-checks in the order of spec 7.1.
    let super::encoding::ExecutionInput { params, raw_body } = input;
    let request = params.validate()?;
    let scheduled_at = match &request.scheduled_at {
        Some(raw) => Some(crate::schedules::check_scheduled_at(
            raw,
            Utc::now(),
            state.settings.schedules.min_scheduled_at_seconds,
        )?),
        None => None,
    };
    let mut conn = state.pool.get().await?;
    let function = super::super::load_function(&mut conn, &auth.project_id, &path).await?;
    auth.check_visible(&function)?;
    if model::catalogue::find_runtime(&function.runtime).is_none()
        || !state.settings.runtime_installed(&function.runtime)
    {
        return Err(ApiError::FunctionRuntimeUnsupported(format!(
            "Runtime \"{}\" is not supported",
            function.runtime
        )));
    }
    let no_deployment = || {
        ApiError::DeploymentNotFound(
            "Deployment not found. Create a deployment before trying to execute a function".into(),
        )
    };
    if function.deployment_id.is_empty() {
        return Err(no_deployment());
    }
    let deployment = crate::db::deployments::find(
        &mut conn,
        &auth.project_id,
        &function.id,
        &function.deployment_id,
    )
    .await?
    .ok_or_else(no_deployment)?;
    if deployment.status != crate::db::deployments::READY {
        return Err(ApiError::BuildNotReady);
    }
    auth.check_execute(&function)?;

    let execution_id = model::ids::unique_id();
    let client_ip = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let mut headers = jobs::function_headers(&request, &execution_id, &client_ip);
    auth.user_headers(&mut headers);
    let mut stored_headers: Vec<(String, String)> = request.headers.clone();
    stored_headers.push(("x-appwrite-client-ip".into(), client_ip.clone()));
    let now = Utc::now();
    let mut job = jobs::execution_job(
        &state.settings,
        jobs::ExecutionJobInput {
            function: &function,
            deployment: &deployment,
            execution_id: &execution_id,
            request: &request,
            headers: &headers,
            sync: !request.is_async,
            created_at_unix_ms: now.timestamp_millis(),
        },
    );
    crate::job_env::complete_execution_job(&mut conn, &state.settings, &function, &mut job).await?;
    // A multipart `body` part reaches the function byte-exact (spec 7.6).
    let job = super::encoding::with_raw_body(job, raw_body);
    let mut row = crate::triggered::new_row(
        &function,
        &deployment.id,
        &execution_id,
        &request,
        "http",
        jobs::stored_request_headers(&stored_headers),
        now,
    );
    if !request.is_async {
        row.status = PROCESSING.into();
    }
    // The creating user alone may read it back (spec 3.3 `$permissions`).
    row.user_id = auth.user_id().map(str::to_owned);

    if let Some(at) = scheduled_at {
        // Stored as `scheduled`; the scheduler fires it at `at` and the gateway then queues it
        // like an async execution (crate::schedules).
        row.status = crate::db::schedules::SCHEDULED.into();
        row.trigger = "schedule".into();
        row.scheduled_at = Some(at);
        let stored = crate::db::schedules::ScheduledRequestRow {
            project_id: row.project_id.clone(),
            execution_id: row.id.clone(),
            function_id: row.function_id.clone(),
            method: request.method.clone(),
            path: request.path.clone(),
            headers: serde_json::to_value(&request.headers).unwrap_or_default(),
            body: request.body.clone(),
        };
        crate::db::schedules::insert_scheduled(&mut conn, &row, &stored).await?;
        crate::schedules::announce(
            &state.publisher,
            &row.project_id,
            &row.function_id,
            "execution",
        )
        .await;
        tracing::info!(function.id = %function.id, execution.id = %execution_id, %at, "execution scheduled");
        crate::events::emit_execution(&state.tasks, &state.publisher, &row, "create");
        return Ok(super::super::json(
            StatusCode::ACCEPTED,
            wire::Execution::from(row),
        ));
    }

    if request.is_async {
        executions::insert_with_job(
            &mut conn,
            &row,
            model::topology::EXECUTIONS_QUEUE,
            job.encode_to_vec(),
        )
        .await?;
        state.outbox_wake.notify_one();
        tracing::info!(function.id = %function.id, execution.id = %execution_id, "async execution queued");
        crate::events::emit_execution(&state.tasks, &state.publisher, &row, "create");
        return Ok(super::super::json(
            StatusCode::ACCEPTED,
            wire::Execution::from(row),
        ));
    }

    // Give the connection back while waiting for the executor.
    drop(conn);
    let (stored, result) = super::sync::run(&state, row, &job, function.logging).await?;
    let mut execution = wire::Execution::from(stored);
    if auth.caller != Caller::Key {
        execution.logs.clear();
        execution.errors.clear();
    }
    execution.response_headers = result
        .headers
        .iter()
        .filter(|h| !h.name.to_ascii_lowercase().starts_with("x-open-runtimes-"))
        .map(|h| wire::Header {
            name: h.name.to_ascii_lowercase(),
            value: h.value.clone(),
        })
        .chain(std::iter::once(wire::Header {
            name: "x-appwrite-execution-id".into(),
            value: execution_id.clone(),
        }))
        .collect();
    tracing::info!(function.id = %function.id, execution.id = %execution_id, status = %execution.status, "sync execution finished");
    super::encoding::sync_reply(&req, execution, result.body, request.method == "HEAD")
}
