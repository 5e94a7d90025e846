pub mod create;
pub mod delete;
pub mod encoding;
pub mod get;
pub mod list;
pub mod sync;
