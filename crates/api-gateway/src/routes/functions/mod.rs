pub mod create;
pub mod delete;
pub mod get;
pub mod list;
pub mod runtimes;
pub mod specifications;
pub mod update;
pub mod update_deployment;
