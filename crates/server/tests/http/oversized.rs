//! A body too large always gets its 413 in the envelope, also when the client keeps sending it:
//! a raw client writing all of a 3 MB body, one that waits for `100 Continue`, curl with and
//! without `Expect: 100-continue`, and Python's urllib.

use crate::common::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BODY: usize = 3_000_000;

fn head(app: &TestApp, extra: &str) -> String {
    let host = app.url.trim_start_matches("http://");
    format!(
        "POST /exports HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {}\r\nContent-Type: application/json\r\nContent-Length: {BODY}\r\n{extra}\r\n",
        app.keys[CREATOR]
    )
}

fn assert_413(answer: &str, how: &str) {
    assert!(answer.starts_with("HTTP/1.1 413"), "{how}: {answer:.300}");
    assert!(
        answer.contains(r#""comment":"PAYLOAD_TOO_LARGE""#) && answer.contains("larger than the API accepts"),
        "{how}: {answer:.400}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_always_gets_its_413() {
    let app = sqlite_app().await;
    let host = app.url.trim_start_matches("http://").to_string();

    // A client that writes the whole body before reading: every byte is accepted, then the 413.
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    stream.write_all(head(&app, "").as_bytes()).await.unwrap();
    let body = vec![b'x'; BODY];
    for chunk in body.chunks(64 * 1024) {
        stream.write_all(chunk).await.expect("the server reads what the client sends (no reset)");
    }
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer)).await.unwrap().unwrap();
    assert_413(&String::from_utf8_lossy(&answer), "a client that keeps sending");

    // A client that waits for 100 Continue gets the 413 instead, and never sends the body.
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    stream.write_all(head(&app, "Expect: 100-continue\r\n").as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&answer).to_string();
    assert!(!answer.contains("100 Continue"), "{answer:.200}");
    assert_413(&answer, "a client waiting for 100 Continue");

    // Real clients: curl (it sends Expect: 100-continue for a large body unless told not to) and urllib.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.json");
    std::fs::write(&file, &body).unwrap();
    let url = format!("{}/exports", app.url);
    let key = format!("X-API-Key: {}", app.keys[CREATOR]);
    for expect in [None, Some("Expect:")] {
        let mut args = vec!["-s", "-S", "-i", "-H", "Content-Type: application/json", "-H", &key];
        if let Some(header) = expect {
            args.extend(["-H", header]);
        }
        let data = format!("@{}", file.display());
        args.extend(["--data-binary", &data, &url]);
        let out =
            tokio::task::block_in_place(|| std::process::Command::new("curl").args(&args).output()).expect("curl runs");
        let text = String::from_utf8_lossy(&out.stdout).replace("HTTP/1.1 100 Continue\r\n\r\n", "");
        assert!(out.status.success(), "curl {expect:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert_413(&text, &format!("curl {expect:?}"));
    }
    let script = "import sys, urllib.request, urllib.error\n\
        req = urllib.request.Request(sys.argv[1], data=open(sys.argv[2], 'rb').read(), headers={'Content-Type': 'application/json', 'X-API-Key': sys.argv[3]})\n\
        try:\n    urllib.request.urlopen(req)\nexcept urllib.error.HTTPError as e:\n    print(e.code, e.read().decode())\n";
    let out = tokio::task::block_in_place(|| {
        std::process::Command::new("python3")
            .args(["-c", script, &url, file.to_str().unwrap(), &app.keys[CREATOR]])
            .output()
    })
    .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.starts_with("413 ") && text.contains("PAYLOAD_TOO_LARGE"),
        "urllib: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Nothing was created by any of them.
    assert_eq!(app.get("/exports", &app.key(CREATOR)).await.1, serde_json::json!([]));
}
