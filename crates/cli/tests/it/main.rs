//! The binary's tests, one test binary (so the suite links once): the commands, the service as
//! `serve` runs it, the AWS shape (S3, SQS) and the Lambda entry points.

mod common;

mod aws;
mod cli;
mod lambda;
mod oidc;
mod service;
mod source_limits;
