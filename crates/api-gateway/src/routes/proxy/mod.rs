//! `/v1/proxy/*`: the parts of Appwrite's proxy API the CLI touches (spec 2.5).
pub mod rules;
