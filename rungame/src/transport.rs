//! A lean HTTP/1.1 backend for surf.
//!
//! surf's default h1 backend goes through a generic connection pool and a streaming
//! codec; for a load generator that sends small requests over kept-alive connections
//! that costs more CPU than the requests themselves. This backend keeps idle
//! connections in a plain list (one short lock per request), writes each request with
//! one `write_all`, and reads the response into a reused buffer. Responses carry their
//! status, `Content-Type` and body (what rungame reads), not the other headers.
//! Requests are never retried: a game must not be played twice behind the user's back.

use std::io;
use std::sync::Mutex;

use std::io::Read;
use std::net::TcpStream;

use async_io::Async;
use futures_lite::AsyncWriteExt;
use surf::http::{Request, Response, StatusCode};
use surf::HttpClient;

/// Headers above this size make the response invalid (a guard against garbage).
const MAX_HEAD: usize = 64 * 1024;

/// One kept-alive connection and its read buffer.
struct Conn {
    host: String,
    port: u16,
    stream: Async<TcpStream>,
    buf: Vec<u8>,
}

#[derive(Default)]
pub struct LeanH1 {
    idle: Mutex<Vec<Conn>>,
}

impl std::fmt::Debug for LeanH1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LeanH1")
    }
}

fn error(e: io::Error) -> surf::Error {
    surf::Error::new(StatusCode::InternalServerError, e)
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

impl LeanH1 {
    fn take_idle(&self, host: &str, port: u16) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let at = idle
            .iter()
            .rposition(|c| c.port == port && c.host == host)?;
        Some(idle.swap_remove(at))
    }

    fn put_idle(&self, conn: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.push(conn);
    }
}

#[surf::utils::async_trait]
impl HttpClient for LeanH1 {
    async fn send(&self, mut req: Request) -> Result<Response, surf::Error> {
        let body = req.take_body().into_bytes().await?;
        let url = req.url();
        if url.scheme() != "http" {
            return Err(surf::Error::from_str(
                StatusCode::BadRequest,
                format!("only http:// URLs are supported, got {url}"),
            ));
        }
        let host = url.host_str().unwrap_or("localhost");
        let port = url.port_or_known_default().unwrap_or(80);

        // The request head, written without format machinery: this is the hot path.
        let mut message = Vec::with_capacity(256 + body.len());
        message.extend_from_slice(req.method().as_ref().as_bytes());
        message.push(b' ');
        message.extend_from_slice(url.path().as_bytes());
        if let Some(query) = url.query() {
            message.push(b'?');
            message.extend_from_slice(query.as_bytes());
        }
        message.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        message.extend_from_slice(host.as_bytes());
        message.push(b':');
        message.extend_from_slice(port.to_string().as_bytes());
        message.extend_from_slice(b"\r\nContent-Length: ");
        message.extend_from_slice(body.len().to_string().as_bytes());
        message.extend_from_slice(b"\r\n");
        for (name, values) in req.iter() {
            let name = name.as_str();
            if name.eq_ignore_ascii_case("host") || name.eq_ignore_ascii_case("content-length") {
                continue;
            }
            for value in values.iter() {
                message.extend_from_slice(name.as_bytes());
                message.extend_from_slice(b": ");
                message.extend_from_slice(value.as_str().as_bytes());
                message.extend_from_slice(b"\r\n");
            }
        }
        message.extend_from_slice(b"\r\n");
        message.extend_from_slice(&body);

        let mut conn = match self.take_idle(host, port) {
            Some(conn) => conn,
            None => {
                let addr = async_std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
                    .await
                    .map_err(error)?
                    .next()
                    .ok_or_else(|| error(invalid("the host has no address")))?;
                let stream = Async::<TcpStream>::connect(addr).await.map_err(error)?;
                stream.get_ref().set_nodelay(true).map_err(error)?;
                Conn {
                    host: host.to_string(),
                    port,
                    stream,
                    buf: Vec::with_capacity(4096),
                }
            }
        };
        conn.stream.write_all(&message).await.map_err(error)?;
        let (response, keep_alive) = read_response(&mut conn).await.map_err(error)?;
        if keep_alive {
            self.put_idle(conn);
        }
        Ok(response)
    }
}

/// Reads more bytes from the stream straight into the buffer; fails on end of stream.
async fn fill(conn: &mut Conn, what: &str) -> io::Result<()> {
    let len = conn.buf.len();
    if conn.buf.capacity() - len < 1024 {
        conn.buf.reserve(4096);
    }
    let spare = conn.buf.capacity() - len;
    conn.buf.resize(len + spare, 0);
    // Wait for readiness first: the answer is rarely there right after the request,
    // and reading before it arrives costs a syscall that only says "not yet".
    let ready = conn.stream.readable().await;
    let read = match ready {
        Ok(()) => {
            let buf = &mut conn.buf[len..];
            conn.stream.read_with(|s| (&*s).read(buf)).await
        }
        Err(e) => Err(e),
    };
    let n = match read {
        Ok(n) => n,
        Err(e) => {
            conn.buf.truncate(len);
            return Err(e);
        }
    };
    conn.buf.truncate(len + n);
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the server closed the connection {what}"),
        ));
    }
    Ok(())
}

/// Reads one response; `conn.buf` may hold bytes of the next one afterwards (it will not,
/// since requests are not pipelined, but they are kept rather than lost).
async fn read_response(conn: &mut Conn) -> io::Result<(Response, bool)> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut parsed = httparse::Response::new(&mut headers);
        match parsed.parse(&conn.buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                let status = parsed.code.unwrap_or(0);
                let status = StatusCode::try_from(status)
                    .map_err(|_| invalid("response has an unknown status code"))?;
                let mut response = Response::new(status);
                let mut length: Option<usize> = None;
                let mut chunked = false;
                let mut close = parsed.version == Some(0);
                for h in parsed.headers.iter() {
                    let value = std::str::from_utf8(h.value)
                        .map_err(|_| invalid("response header is not UTF-8"))?;
                    if h.name.eq_ignore_ascii_case("content-length") {
                        length = Some(
                            value
                                .trim()
                                .parse()
                                .map_err(|_| invalid("bad Content-Length"))?,
                        );
                    } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                        chunked = value.to_ascii_lowercase().contains("chunked");
                    } else if h.name.eq_ignore_ascii_case("connection") {
                        close = value.eq_ignore_ascii_case("close");
                    } else if h.name.eq_ignore_ascii_case("content-type") {
                        // The only header rungame reads; copying the others into
                        // http-types' header map cost more than the rest of the parse.
                        response.insert_header("Content-Type", value);
                    }
                }
                conn.buf.drain(..head_len);
                let body = if chunked {
                    read_chunked(conn).await?
                } else if let Some(length) = length {
                    read_exact_buffered(conn, length).await?
                } else {
                    // No length: the body runs to the end of the connection.
                    close = true;
                    loop {
                        match fill(conn, "").await {
                            Ok(()) => continue,
                            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                            Err(e) => return Err(e),
                        }
                    }
                    std::mem::take(&mut conn.buf)
                };
                response.set_body(body);
                return Ok((response, !close));
            }
            Ok(httparse::Status::Partial) => {
                if conn.buf.len() > MAX_HEAD {
                    return Err(invalid("response headers are too large"));
                }
            }
            Err(e) => return Err(invalid(&format!("malformed response: {e}"))),
        }
        fill(conn, "before answering").await?;
    }
}

/// Takes `length` bytes, from the buffer first, then from the stream.
async fn read_exact_buffered(conn: &mut Conn, length: usize) -> io::Result<Vec<u8>> {
    while conn.buf.len() < length {
        fill(conn, "mid-body").await?;
    }
    let body = conn.buf[..length].to_vec();
    conn.buf.drain(..length);
    Ok(body)
}

/// Reads one line (up to CRLF) from the buffered connection.
async fn read_line(conn: &mut Conn) -> io::Result<Vec<u8>> {
    loop {
        if let Some(at) = conn.buf.windows(2).position(|w| w == b"\r\n") {
            let line = conn.buf[..at].to_vec();
            conn.buf.drain(..at + 2);
            return Ok(line);
        }
        if conn.buf.len() > MAX_HEAD {
            return Err(invalid("chunk header too long"));
        }
        fill(conn, "mid-body").await?;
    }
}

async fn read_chunked(conn: &mut Conn) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(conn).await?;
        let size_text = std::str::from_utf8(&line)
            .map_err(|_| invalid("bad chunk size"))?
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
        if size == 0 {
            // Trailers, if any, end with an empty line.
            while !read_line(conn).await?.is_empty() {}
            return Ok(body);
        }
        body.extend(read_exact_buffered(conn, size).await?);
        read_line(conn).await?;
    }
}
