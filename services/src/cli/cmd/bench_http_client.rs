//! The client side of `bench --http`'s throughput: many concurrent clients that cost the
//! machine little, so that on a small machine the figure is the server's and not the
//! benchmark's.
//!
//! Each client is a task on a one-thread tokio runtime holding one keep-alive HTTP/1.1
//! connection; it sends the next submission's request, waits for the answer, and sends the
//! next, as the clients of the first version did from one OS thread each with `ureq` (256
//! threads and their switches took most of 2 cores). Every request is built before the clock
//! starts: the pre-signed canonical bytes behind fixed headers. The answers are read as far as
//! HTTP/1.1 framing needs (status line, `Content-Length`, body); anything but 201 fails the
//! run. Written on tokio's `TcpStream` readiness calls rather than with an HTTP client crate:
//! hyper's client would change the features of the server's own hyper, and the requests are
//! fixed.

use anyhow::{bail, ensure, Context, Result};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// The request of one submission: `POST /v1/submissions` with the canonical bytes.
pub fn request(host: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST /v1/submissions HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// One keep-alive connection and what was read past the last answer.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn write_all(&self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            self.stream.writable().await?;
            match self.stream.try_write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Reads more bytes into the buffer; fails when the server closed the connection.
    async fn fill(&mut self) -> Result<()> {
        let mut chunk = [0u8; 4096];
        loop {
            self.stream.readable().await?;
            match self.stream.try_read(&mut chunk) {
                Ok(0) => bail!("the server closed the connection"),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Sends `req` and reads its answer; its status and body.
    async fn exchange(&mut self, req: &[u8]) -> Result<(u16, Vec<u8>)> {
        self.write_all(req).await?;
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).context("answer headers")?;
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("no status in {head:?}"))?;
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .with_context(|| format!("no content-length in {head:?}"))?;
        while self.buf.len() < head_end + len {
            self.fill().await?;
        }
        let body = self.buf[head_end..head_end + len].to_vec();
        self.buf.drain(..head_end + len);
        Ok((status, body))
    }
}

/// Sends `requests` to `addr` from `clients` concurrent connections, each taking the next
/// request in turn and waiting for its answer; the time from the first request to the last
/// answer. Fails on any answer but 201.
pub fn drive(addr: &str, requests: &[Vec<u8>], clients: usize) -> Result<Duration> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let requests = Arc::new(requests.to_vec());
    runtime.block_on(async move {
        let mut conns = Vec::with_capacity(clients);
        for _ in 0..clients {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            conns.push(Conn {
                stream,
                buf: Vec::new(),
            });
        }
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for mut conn in conns {
            let (next, requests) = (next.clone(), requests.clone());
            tasks.spawn(async move {
                while let Some(req) = requests.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let (status, body) = conn.exchange(req).await?;
                    ensure!(
                        status == 201,
                        "a submission was answered {status}: {}",
                        String::from_utf8_lossy(&body)
                    );
                }
                Ok::<(), anyhow::Error>(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        Ok(started.elapsed())
    })
}

/// CPU seconds (user + system) this process has used so far (`/proc/self/stat`).
pub fn own_cpu() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let close = stat.rfind(')').context("/proc/self/stat")?;
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<f64>().ok()))
        .sum();
    Ok(ticks / 100.0) // USER_HZ, 100 on Linux
}
