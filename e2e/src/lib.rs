//! Helpers for the end-to-end tests in `tests/`, which drive the stack that
//! `make test` starts (`scripts/stack.sh` with `STACK_PROFILE=test`).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use squidgame_common::store::{Store, StoreArgs};

/// An address of the running test stack, from the environment `make test` sets.
pub fn stack_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: these tests need the test stack; run them with `make test`")
    })
}

/// The store of the test stack (the same Redis and MongoDB the workers write).
pub async fn stack_store() -> Store {
    let args = StoreArgs {
        redis_url: stack_env("REDIS_URL"),
        mongo_url: stack_env("MONGO_URL"),
        mongo_db: "squidgame".into(),
    };
    Store::connect(&args).await.expect("store clients")
}

/// A binary of the workspace, next to the test executable's `deps/` folder.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let bin = dir.join(name);
    assert!(bin.exists(), "{} is missing: build the workspace first", bin.display());
    bin
}

/// Runs rungame with `args` and returns its JSON report and exit code.
pub fn rungame(args: &[&str]) -> (serde_json::Value, i32) {
    let out = Command::new(workspace_bin("rungame"))
        .args(args)
        .args(["--output", "json"])
        .output()
        .expect("run rungame");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "rungame printed no JSON report ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (report, out.status.code().unwrap_or(-1))
}

/// Polls `check` until it returns true or `limit` passes; returns the last verdict.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        async_std::task::sleep(Duration::from_millis(200)).await;
    }
}

/// GET `url` and parse the JSON body; returns the status too.
pub async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let mut res = surf::get(url).await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = u16::from(res.status());
    let body = res.body_string().await.unwrap_or_default();
    let json = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("GET {url}: body is not JSON ({e}): {body}"));
    (status, json)
}

/// GET `url` as text; returns the status too.
pub async fn get_text(url: &str) -> (u16, String) {
    let mut res = surf::get(url).await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = u16::from(res.status());
    (status, res.body_string().await.unwrap_or_default())
}

/// POST `url` with an empty body and parse the JSON answer.
pub async fn post_json(url: &str) -> (u16, serde_json::Value) {
    let mut res = surf::post(url).await.unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = u16::from(res.status());
    let body = res.body_string().await.unwrap_or_default();
    let json = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("POST {url}: body is not JSON ({e}): {body}"));
    (status, json)
}
