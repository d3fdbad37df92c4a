//! The S3/SQS emulator (moto), spoken to directly: it creates buckets and lists uploads, and it
//! does not check signatures.

use std::io::{Read, Write};

/// One plain HTTP/1.1 request; the status code and the body.
pub fn raw_http(endpoint: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream =
        std::net::TcpStream::connect(host).unwrap_or_else(|e| panic!("connecting to the S3 emulator at {host}: {e}"));
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).expect("a read timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("sending to the emulator");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("reading the emulator's answer");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP response: {text}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// The region the tests' AWS clients use.
pub fn s3_region() -> String {
    std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()).unwrap_or_else(|| "ap-southeast-2".into())
}

/// Creates a bucket with a unique name (`aao-{purpose}-…`) on the emulator.
pub fn create_bucket(endpoint: &str, purpose: &str) -> String {
    let name = format!("aao-{purpose}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let region = s3_region();
    let body = if region == "us-east-1" {
        String::new()
    } else {
        format!(
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
        )
    };
    let (status, text) = raw_http(endpoint, "PUT", &format!("/{name}"), &body);
    assert_eq!(status, 200, "creating bucket {name}: {text}");
    name
}

/// Multipart uploads still in progress in a bucket (an aborted or finished upload leaves none).
pub fn open_multipart_uploads(endpoint: &str, bucket: &str) -> usize {
    let (status, text) = raw_http(endpoint, "GET", &format!("/{bucket}?uploads"), "");
    assert_eq!(status, 200, "listing multipart uploads of {bucket}: {text}");
    text.matches("<Upload>").count()
}

/// Creates an SQS queue with a dead-letter queue on the emulator and returns its URL.
pub async fn create_queue(endpoint: &str, name: &str) -> String {
    let aws = aao_export_aws::AwsSettings { region: s3_region(), endpoint_url: Some(endpoint.to_string()) };
    let (url, _dead) = aao_export_queue::SqsQueue::create_with_dead_letter(&aws, name, 5)
        .await
        .expect("the emulator creates the queue");
    url
}
