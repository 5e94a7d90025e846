//! Building the queue messages the gateway sends: `BuildJob` and `ExecutionJob`, with the
//! environment of spec 7.7 and the request headers of spec 7.4.
use crate::db::deployments::DeploymentRow;
use crate::db::functions::FunctionRow;
use crate::domain::ExecutionRequest;
use crate::settings::Settings;
use model::proto::{BuildJob, ExecutionJob, Header};
use std::collections::BTreeMap;

/// Object-store key of an uploaded source tarball.
pub fn source_key(project_id: &str, function_id: &str, deployment_id: &str) -> String {
    format!("sources/{project_id}/{function_id}/{deployment_id}.tar.gz")
}

/// Object-store key of a build output tarball.
pub fn build_key(project_id: &str, function_id: &str, deployment_id: &str) -> String {
    format!("builds/{project_id}/{function_id}/{deployment_id}.tar.gz")
}

fn specification(slug: &str) -> model::catalogue::Specification {
    model::catalogue::find_specification(slug)
        .or_else(|| model::catalogue::find_specification(model::catalogue::DEFAULT_SPECIFICATION))
        .unwrap_or(model::catalogue::Specification {
            slug: "s-1vcpu-512mb",
            cpus: 1.0,
            memory_mb: 512,
        })
}

fn format_cpus(cpus: f64) -> String {
    if cpus.fract() == 0.0 {
        format!("{}", cpus as i64)
    } else {
        format!("{cpus}")
    }
}

/// The `APPWRITE_*` variables a function sees (spec 7.7).
pub fn function_env(
    settings: &Settings,
    function: &FunctionRow,
    deployment_id: &str,
    deployment_type: &str,
    spec_slug: &str,
) -> BTreeMap<String, String> {
    let spec = specification(spec_slug);
    let runtime = model::catalogue::find_runtime(&function.runtime);
    let mut env = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        env.insert(k.to_owned(), v);
    };
    put(
        "APPWRITE_FUNCTION_API_ENDPOINT",
        settings.public_endpoint.clone(),
    );
    put("APPWRITE_FUNCTION_ID", function.id.clone());
    put("APPWRITE_FUNCTION_NAME", function.name.clone());
    put("APPWRITE_FUNCTION_DEPLOYMENT", deployment_id.to_owned());
    put("APPWRITE_FUNCTION_PROJECT_ID", function.project_id.clone());
    put(
        "APPWRITE_FUNCTION_RUNTIME_NAME",
        runtime
            .as_ref()
            .map(|r| r.name.to_owned())
            .unwrap_or_default(),
    );
    put(
        "APPWRITE_FUNCTION_RUNTIME_VERSION",
        runtime
            .as_ref()
            .map(|r| r.version.to_owned())
            .unwrap_or_default(),
    );
    put("APPWRITE_FUNCTION_CPUS", format_cpus(spec.cpus));
    put("APPWRITE_FUNCTION_MEMORY", spec.memory_mb.to_string());
    put("APPWRITE_VERSION", model::APPWRITE_VERSION.to_owned());
    put("APPWRITE_REGION", "default".to_owned());
    put("APPWRITE_DEPLOYMENT_TYPE", deployment_type.to_owned());
    for k in [
        "APPWRITE_VCS_REPOSITORY_ID",
        "APPWRITE_VCS_REPOSITORY_NAME",
        "APPWRITE_VCS_REPOSITORY_OWNER",
        "APPWRITE_VCS_REPOSITORY_URL",
        "APPWRITE_VCS_REPOSITORY_BRANCH",
        "APPWRITE_VCS_REPOSITORY_BRANCH_URL",
        "APPWRITE_VCS_COMMIT_HASH",
        "APPWRITE_VCS_COMMIT_MESSAGE",
        "APPWRITE_VCS_COMMIT_URL",
        "APPWRITE_VCS_COMMIT_AUTHOR_NAME",
        "APPWRITE_VCS_COMMIT_AUTHOR_URL",
        "APPWRITE_VCS_ROOT_DIRECTORY",
    ] {
        put(k, String::new());
    }
    env
}

pub fn build_job(
    settings: &Settings,
    function: &FunctionRow,
    deployment: &DeploymentRow,
) -> BuildJob {
    let spec = specification(&function.build_specification);
    BuildJob {
        project_id: deployment.project_id.clone(),
        function_id: deployment.function_id.clone(),
        deployment_id: deployment.id.clone(),
        runtime_id: function.runtime.clone(),
        image: model::catalogue::runtime_image(&function.runtime),
        source_path: deployment.source_path.clone(),
        output_path: build_key(
            &deployment.project_id,
            &deployment.function_id,
            &deployment.id,
        ),
        entrypoint: deployment.entrypoint.clone(),
        commands: deployment.commands.clone(),
        env: function_env(
            settings,
            function,
            &deployment.id,
            &deployment.type_,
            &function.build_specification,
        ),
        cpus: spec.cpus,
        memory_mb: spec.memory_mb,
        timeout_seconds: settings.build.timeout_seconds,
    }
}

/// Request headers kept on the stored execution (spec 7.4).
pub const STORED_REQUEST_HEADERS: [&str; 5] = [
    "content-type",
    "agent",
    "content-length",
    "host",
    "x-appwrite-client-ip",
];

/// Headers given to the function: the caller's plus the Appwrite ones (spec 7.4).
pub fn function_headers(
    request: &ExecutionRequest,
    execution_id: &str,
    client_ip: &str,
) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = request.headers.clone();
    for (k, v) in [
        ("x-appwrite-trigger", "http"),
        ("x-appwrite-user-id", ""),
        ("x-appwrite-user-jwt", ""),
        ("x-appwrite-execution-id", execution_id),
        ("x-appwrite-client-ip", client_ip),
        ("x-appwrite-country-code", ""),
        ("x-appwrite-continent-code", ""),
        ("x-appwrite-continent-eu", "false"),
    ] {
        headers.push((k.to_owned(), v.to_owned()));
    }
    headers
}

pub fn stored_request_headers(headers: &[(String, String)]) -> serde_json::Value {
    serde_json::Value::Array(
        headers
            .iter()
            .filter(|(k, _)| STORED_REQUEST_HEADERS.contains(&k.as_str()))
            .map(|(k, v)| serde_json::json!({"name": k, "value": v}))
            .collect(),
    )
}

pub struct ExecutionJobInput<'a> {
    pub function: &'a FunctionRow,
    pub deployment: &'a DeploymentRow,
    pub execution_id: &'a str,
    pub request: &'a ExecutionRequest,
    pub headers: &'a [(String, String)],
    pub sync: bool,
    pub created_at_unix_ms: i64,
}

pub fn execution_job(settings: &Settings, input: ExecutionJobInput<'_>) -> ExecutionJob {
    let ExecutionJobInput {
        function,
        deployment,
        execution_id,
        request,
        headers,
        sync,
        created_at_unix_ms,
    } = input;
    let spec = specification(&function.runtime_specification);
    ExecutionJob {
        project_id: function.project_id.clone(),
        function_id: function.id.clone(),
        deployment_id: deployment.id.clone(),
        execution_id: execution_id.to_owned(),
        runtime_id: function.runtime.clone(),
        image: model::catalogue::runtime_image(&function.runtime),
        build_path: if deployment.build_path.is_empty() {
            build_key(
                &deployment.project_id,
                &deployment.function_id,
                &deployment.id,
            )
        } else {
            deployment.build_path.clone()
        },
        entrypoint: deployment.entrypoint.clone(),
        env: function_env(
            settings,
            function,
            &deployment.id,
            &deployment.type_,
            &function.runtime_specification,
        ),
        cpus: spec.cpus,
        memory_mb: spec.memory_mb,
        timeout_seconds: u32::try_from(function.timeout).unwrap_or(15),
        logging: function.logging,
        method: request.method.clone(),
        path: request.path.clone(),
        headers: headers
            .iter()
            .map(|(name, value)| Header {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
        body: request.body.clone().into_bytes(),
        trigger: "http".into(),
        created_at_unix_ms,
        sync,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_architecture() {
        assert_eq!(source_key("p", "f", "d"), "sources/p/f/d.tar.gz");
        assert_eq!(build_key("p", "f", "d"), "builds/p/f/d.tar.gz");
        assert_eq!(format_cpus(1.0), "1");
        assert_eq!(format_cpus(0.5), "0.5");
    }

    #[test]
    fn stored_headers_are_allow_listed() {
        let headers = vec![
            ("content-type".to_owned(), "text/plain".to_owned()),
            ("x-secret".to_owned(), "s".to_owned()),
            ("x-appwrite-client-ip".to_owned(), "1.2.3.4".to_owned()),
        ];
        let stored = stored_request_headers(&headers);
        assert_eq!(stored.as_array().map(Vec::len), Some(2));
        assert!(!stored.to_string().contains("x-secret"));
    }
}
