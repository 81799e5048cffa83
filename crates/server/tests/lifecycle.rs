//! The life of a request beyond its response: a client that disconnects mid-stream (or while
//! waiting for a complete response) stops its backend job, and a graceful shutdown lets a stream
//! in flight run to its end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;

use common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn send_raw(addr: std::net::SocketAddr, body: &serde_json::Value) -> TcpStream {
    let body = serde_json::to_vec(body).unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body).await.unwrap();
    s
}

/// Reads until `needle` has arrived.
async fn read_until(s: &mut TcpStream, needle: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(needle) {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "connection closed before {needle:?}: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn disconnect_mid_stream_cancels_the_job() {
    let (srv, fake) = fake_server().await;
    fake.hold(2);
    let body = json!({"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50, "stream": true});
    let mut s = send_raw(srv.addr, &body).await;
    let seen = read_until(&mut s, "\" t1\"").await;
    assert!(seen.contains("\"role\":\"assistant\""), "{seen}");
    drop(s);
    fake.release();
    wait_for("the job to stop after the client left", || fake.cancelled.load(Ordering::SeqCst) == 1).await;
    assert_eq!(fake.finished.load(Ordering::SeqCst), 0, "the job did not run to max_tokens");
}

#[tokio::test]
async fn disconnect_while_waiting_cancels_the_job() {
    let (srv, fake) = fake_server().await;
    fake.hold(1);
    let body = json!({"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50});
    let s = send_raw(srv.addr, &body).await;
    wait_for("the job to start", || fake.active.load(Ordering::SeqCst) == 1).await;
    drop(s);
    // Give the server a moment to see the closed socket before the job resumes; the job notices
    // at its next token either way, so this only makes the check stricter, never flaky.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    fake.release();
    wait_for("the job to stop after the client left", || fake.cancelled.load(Ordering::SeqCst) == 1).await;
    assert_eq!(fake.finished.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn queued_job_of_a_departed_client_never_starts() {
    // The fake checks `is_cancelled` before every token, the first included: a job whose client
    // left while it waited produces nothing.
    let (srv, fake) = fake_server().await;
    fake.hold(0);
    let body =
        json!({"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5, "stream": true});
    let mut s = send_raw(srv.addr, &body).await;
    read_until(&mut s, "\"role\"").await;
    drop(s);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    fake.release();
    wait_for("the job to be dropped", || fake.cancelled.load(Ordering::SeqCst) == 1).await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_the_stream_in_flight() {
    let (mut srv, fake) = fake_server().await;
    fake.hold(1);
    let body =
        json!({"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 6, "stream": true});
    let mut s = send_raw(srv.addr, &body).await;
    read_until(&mut s, "\" t0\"").await;
    let server = srv.stop();
    wait_for("the server to start draining", || srv.state.is_shutting_down()).await;
    assert!(fake.closed.load(Ordering::SeqCst));
    fake.release();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).await.unwrap();
    let rest = String::from_utf8_lossy(&rest);
    for k in 1..6 {
        assert!(rest.contains(&format!("\" t{k}\"")), "token {k} missing after shutdown began: {rest}");
    }
    assert!(rest.contains("\"finish_reason\":\"length\""), "{rest}");
    assert!(rest.contains("data: [DONE]"), "{rest}");
    server.await.unwrap().unwrap();
    assert_eq!(fake.finished.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let cfg = allmende_server::ServerConfig { header_timeout: std::time::Duration::from_secs(1), ..Default::default() };
    let (srv, _) = fake_server_with(cfg).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    // Headers that never end.
    s.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(20), s.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the server kept a connection with unfinished headers open");
    // The server still serves others.
    assert_eq!(get(srv.addr, "/health").await.status, 200);
}
