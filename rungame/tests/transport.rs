//! The lean HTTP/1.1 transport against a raw TCP server that answers in each of the
//! framings HTTP/1.1 allows, on one kept-alive connection where it may.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rungame::transport::LeanH1;

/// Serves `answers` in order, one per request, counting accepted connections.
fn raw_server(answers: Vec<&'static str>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let connections = Arc::new(AtomicUsize::new(0));
    let accepted = connections.clone();
    std::thread::spawn(move || {
        let mut answers = answers.into_iter();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            accepted.fetch_add(1, Ordering::SeqCst);
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut writer = stream;
            loop {
                // Read one request: head, then Content-Length bytes of body.
                let mut length = 0usize;
                let mut line = String::new();
                let mut first = true;
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    first = false;
                    if line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                if first {
                    break; // the client closed the connection
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let Some(answer) = answers.next() else { return };
                let _ = writer.write_all(answer.as_bytes());
                if answer.contains("Connection: close") || !answer.contains("\r\n\r\n") {
                    break;
                }
                if !answer.to_ascii_lowercase().contains("content-length")
                    && !answer.to_ascii_lowercase().contains("chunked")
                {
                    break; // body delimited by closing the connection
                }
            }
        }
    });
    (url, connections)
}

async fn post(client: &surf::Client, url: &str) -> (u16, String, Option<String>) {
    let mut res = client
        .post(format!("{url}/game/1/gamename/A/players/2"))
        .await
        .expect("answer");
    let body = res.body_string().await.expect("body");
    let content_type = res.header("Content-Type").map(|v| v.as_str().to_string());
    (u16::from(res.status()), body, content_type)
}

#[test]
fn reads_every_framing_and_reuses_the_connection() {
    let (url, connections) = raw_server(vec![
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"route\":\"kafka\"}",
        "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbusy\r\n7;ext=1\r\n, try a\r\n6\r\ngain..\r\n0\r\nX-Trailer: 1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye",
        "HTTP/1.1 201 Created\r\n\r\nuntil the end",
        "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
    ]);
    let client = surf::Client::with_http_client(LeanH1::default());
    async_std::task::block_on(async {
        assert_eq!(
            post(&client, &url).await,
            (
                200,
                r#"{"route":"kafka"}"#.to_string(),
                Some("application/json".to_string())
            )
        );
        // Without a Content-Type, http-types reports its default for a byte body.
        let octets = Some("application/octet-stream".to_string());
        assert_eq!(
            post(&client, &url).await,
            (503, "busy, try again..".to_string(), octets.clone())
        );
        // Both answers came over the first connection.
        assert_eq!(connections.load(Ordering::SeqCst), 1);
        assert_eq!(
            post(&client, &url).await,
            (200, "bye".to_string(), octets.clone())
        );
        // `Connection: close` is honoured: the next request opens a new connection,
        // whose answer has no length and ends when the server closes.
        assert_eq!(
            post(&client, &url).await,
            (201, "until the end".to_string(), octets.clone())
        );
        assert_eq!(connections.load(Ordering::SeqCst), 2);
        assert_eq!(post(&client, &url).await, (204, String::new(), octets));
        assert_eq!(connections.load(Ordering::SeqCst), 3);
    });
}

#[test]
fn a_malformed_answer_is_an_error_not_a_panic() {
    let (url, _) = raw_server(vec!["this is not HTTP\r\n\r\n"]);
    let client = surf::Client::with_http_client(LeanH1::default());
    let err = async_std::task::block_on(client.post(format!("{url}/x"))).unwrap_err();
    assert!(err.to_string().contains("malformed response"), "{err}");
}

#[test]
fn https_is_refused_with_a_clear_error() {
    let client = surf::Client::with_http_client(LeanH1::default());
    let err = async_std::task::block_on(client.post("https://127.0.0.1:1/x")).unwrap_err();
    assert!(err.to_string().contains("only http:// URLs"), "{err}");
}
