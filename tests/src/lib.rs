//! Test support for entra-sync: the Entra ID emulator, a local Lambda
//! Runtime API that runs the real function binaries, the moto-backed AWS
//! side, real event shapes, the assembled local stack, and the live stack
//! with its admin console.

pub mod api_gateway;
pub mod aws_meter;
pub mod emulator;
pub mod events;
pub mod export;
pub mod iam;
pub mod lambda_runtime_api;
pub mod live;
pub mod local_aws;
pub mod organisation;
pub mod stack;
pub mod sync;
