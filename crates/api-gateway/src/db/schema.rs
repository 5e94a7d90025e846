//! Diesel table definitions, kept in step with `migrations/` by hand (checked by the integration
//! tests, which run the migrations and then every query).
// @generated-style file: edit together with the migrations.

diesel::table! {
    functions (project_id, id) {
        project_id -> Text,
        id -> Text,
        seq -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        name -> Text,
        execute -> Array<Text>,
        enabled -> Bool,
        live -> Bool,
        logging -> Bool,
        runtime -> Text,
        deployment_retention -> Int4,
        deployment_id -> Text,
        deployment_created_at -> Nullable<Timestamptz>,
        latest_deployment_id -> Text,
        latest_deployment_created_at -> Nullable<Timestamptz>,
        latest_deployment_status -> Text,
        scopes -> Array<Text>,
        events -> Array<Text>,
        schedule -> Text,
        timeout -> Int4,
        entrypoint -> Text,
        commands -> Text,
        version -> Text,
        installation_id -> Text,
        provider_repository_id -> Text,
        provider_branch -> Text,
        provider_root_directory -> Text,
        provider_silent_mode -> Bool,
        provider_branches -> Array<Text>,
        provider_paths -> Array<Text>,
        build_specification -> Text,
        runtime_specification -> Text,
    }
}

diesel::table! {
    deployments (project_id, id) {
        project_id -> Text,
        id -> Text,
        seq -> Int8,
        function_id -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        #[sql_name = "type"]
        type_ -> Text,
        entrypoint -> Text,
        commands -> Text,
        source_path -> Text,
        source_size -> Int8,
        build_path -> Text,
        build_size -> Int8,
        build_duration -> Int4,
        build_logs -> Text,
        build_started_at -> Nullable<Timestamptz>,
        activate -> Bool,
        status -> Text,
        chunks_total -> Int4,
        chunks_uploaded -> Int4,
        vcs -> Jsonb,
    }
}

diesel::table! {
    deployment_chunks (project_id, deployment_id, chunk_index) {
        project_id -> Text,
        deployment_id -> Text,
        chunk_index -> Int4,
        path -> Text,
        size -> Int8,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    executions (project_id, id) {
        project_id -> Text,
        id -> Text,
        seq -> Int8,
        function_id -> Text,
        deployment_id -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        trigger -> Text,
        status -> Text,
        request_method -> Text,
        request_path -> Text,
        request_headers -> Jsonb,
        response_status_code -> Int4,
        response_headers -> Jsonb,
        logs -> Text,
        errors -> Text,
        duration -> Float8,
        scheduled_at -> Nullable<Timestamptz>,
        timeout_seconds -> Int4,
        user_id -> Nullable<Text>,
    }
}

diesel::table! {
    outbox (id) {
        id -> Int8,
        queue -> Text,
        payload -> Bytea,
        correlation_id -> Text,
        created_at -> Timestamptz,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_error -> Text,
    }
}

diesel::table! {
    variables (project_id, id) {
        project_id -> Text,
        id -> Text,
        seq -> Int8,
        resource_type -> Text,
        resource_id -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        key -> Text,
        value -> Text,
        secret -> Bool,
    }
}

diesel::table! {
    projects (id) {
        id -> Text,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        project_id -> Text,
        name -> Text,
        secret_hash -> Text,
        scopes -> Array<Text>,
        expire -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::allow_tables_to_appear_in_same_query!(functions, deployments, executions, outbox);

diesel::table! {
    event_fires (project_id, function_id, event_id) {
        project_id -> Text,
        function_id -> Text,
        event_id -> Text,
        event -> Text,
        execution_id -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    schedule_slots (project_id, function_id, slot) {
        project_id -> Text,
        function_id -> Text,
        slot -> Timestamptz,
        status -> Text,
        execution_id -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    scheduled_requests (project_id, execution_id) {
        project_id -> Text,
        execution_id -> Text,
        function_id -> Text,
        method -> Text,
        path -> Text,
        headers -> Jsonb,
        body -> Text,
    }
}

diesel::table! {
    rules (domain) {
        id -> Text,
        project_id -> Text,
        seq -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        domain -> Text,
        #[sql_name = "type"]
        type_ -> Text,
        trigger -> Text,
        deployment_resource_type -> Text,
        deployment_resource_id -> Text,
        deployment_vcs_provider_branch -> Text,
        status -> Text,
    }
}
