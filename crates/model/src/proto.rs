//! Queue messages generated from `proto/fnplat.proto`. Never edit the generated code; change the proto.
#![allow(clippy::all)]
include!(concat!(env!("OUT_DIR"), "/fnplat.v1.rs"));

impl BuildStatus {
    /// The Appwrite `Deployment.status` string of this build status.
    pub fn as_appwrite(self) -> &'static str {
        match self {
            BuildStatus::Unspecified => "waiting",
            BuildStatus::Processing => "processing",
            BuildStatus::Building => "building",
            BuildStatus::Ready => "ready",
            BuildStatus::Failed => "failed",
            BuildStatus::Canceled => "canceled",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            BuildStatus::Ready | BuildStatus::Failed | BuildStatus::Canceled
        )
    }
}
