//! `api-gateway admin ...`: operator commands against the gateway's database (same settings as
//! the server: `GATEWAY__DATABASE__URL`, ...). Migrations run first.
//!
//! - `admin create-project <id> [--name <name>]`
//! - `admin create-key --project <id> --scopes functions.read,functions.write,... [--name <name>]
//!   [--expire <RFC 3339>]` prints the new key's secret (shown once; only its hash is stored).
use crate::db;
use crate::db::keys::{self, ApiKeyRow};
use crate::settings::Settings;
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use secrecy::ExposeSecret;

pub const USAGE: &str = "usage:
  api-gateway admin create-project <projectId> [--name <name>]
  api-gateway admin create-key --project <projectId> --scopes <scope,scope,...> [--name <name>] [--expire <RFC 3339 datetime>]";

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// Runs one admin command; returns what to print on stdout.
pub async fn run(settings: &Settings, args: &[String]) -> anyhow::Result<String> {
    let url = settings.database.url.expose_secret().to_owned();
    db::run_migrations(&url).await?;
    let mut conn = AsyncPgConnection::establish(&url).await?;
    match args.first().map(String::as_str) {
        Some("create-project") => {
            let id = args
                .get(1)
                .filter(|a| !a.starts_with("--"))
                .ok_or_else(|| anyhow::anyhow!("missing <projectId>\n{USAGE}"))?;
            if !model::ids::is_valid_id(id) {
                anyhow::bail!("invalid project id {id:?}");
            }
            let name = flag(args, "--name").unwrap_or_else(|| id.clone());
            let created = keys::create_project(&mut conn, id, &name).await?;
            Ok(if created {
                format!("project {id} created")
            } else {
                format!("project {id} exists")
            })
        }
        Some("create-key") => {
            let project = flag(args, "--project")
                .ok_or_else(|| anyhow::anyhow!("missing --project\n{USAGE}"))?;
            let scopes: Vec<String> = flag(args, "--scopes")
                .ok_or_else(|| anyhow::anyhow!("missing --scopes\n{USAGE}"))?
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
            let expire = match flag(args, "--expire") {
                Some(e) => Some(
                    DateTime::parse_from_rfc3339(&e)
                        .map_err(|err| anyhow::anyhow!("--expire {e:?}: {err}"))?
                        .with_timezone(&Utc),
                ),
                None => None,
            };
            if project != settings.auth.project_id
                && !keys::project_exists(&mut conn, &project).await?
            {
                anyhow::bail!("project {project} does not exist (admin create-project first)");
            }
            if project == settings.auth.project_id {
                // The start-up project is implicit; give it a row so keys can reference it.
                keys::create_project(&mut conn, &project, &project).await?;
            }
            let secret = crate::tokens::new_key_secret();
            let row = ApiKeyRow {
                id: model::ids::unique_id(),
                project_id: project,
                name: flag(args, "--name").unwrap_or_else(|| "admin".into()),
                secret_hash: crate::tokens::hash_secret(&secret),
                scopes,
                expire,
                created_at: Utc::now(),
            };
            keys::insert_key(&mut conn, &row).await?;
            Ok(secret)
        }
        _ => anyhow::bail!("{USAGE}"),
    }
}
