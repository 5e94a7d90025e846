//! `/v1/proxy/*`: proxy rules, i.e. function domains (spec 2.5, `crate::domains`).
pub mod create_function_rule;
pub mod rules;
