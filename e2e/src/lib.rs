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
    assert!(
        bin.exists(),
        "{} is missing: build the workspace first",
        bin.display()
    );
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
    let mut res = surf::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = u16::from(res.status());
    let body = res.body_string().await.unwrap_or_default();
    let json = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("GET {url}: body is not JSON ({e}): {body}"));
    (status, json)
}

/// GET `url` as text; returns the status too.
pub async fn get_text(url: &str) -> (u16, String) {
    let mut res = surf::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = u16::from(res.status());
    (status, res.body_string().await.unwrap_or_default())
}

/// POST `url` with an empty body and parse the JSON answer.
pub async fn post_json(url: &str) -> (u16, serde_json::Value) {
    let mut res = surf::post(url)
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = u16::from(res.status());
    let body = res.body_string().await.unwrap_or_default();
    let json = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("POST {url}: body is not JSON ({e}): {body}"));
    (status, json)
}

/// Results as grpc-server would publish them, with fresh ids.
pub fn sample_results(count: usize, route: &str) -> Vec<squidgame_common::GameResult> {
    (0..count)
        .map(|i| squidgame_common::GameResult {
            id: uuid::Uuid::new_v4().to_string(),
            game_id: 1 + (i % 6) as u32,
            game_name: [
                "Random",
                "Roulette",
                "Tug of War",
                "Glass Bridge",
                "Last",
                "Red Light",
            ][i % 6]
                .to_string(),
            players: 30,
            winner: 1 + (i % 30) as u32,
            route: route.to_string(),
            played_at_ms: 1_700_000_000_000 + i as i64,
            rounds: 1,
        })
        .collect()
}

/// Publishes raw bodies to the Kafka results topic and waits for every ack.
pub async fn publish_kafka(brokers: &str, bodies: &[Vec<u8>]) {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    squidgame_common::kafka::ensure_topics(brokers, 1)
        .await
        .expect("topics");
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let pending: Vec<_> = bodies
        .iter()
        .map(|body| {
            producer.send(
                FutureRecord::<(), [u8]>::to(squidgame_common::kafka::RESULTS_TOPIC)
                    .payload(body.as_slice()),
                Duration::from_secs(30),
            )
        })
        .collect();
    for delivery in pending {
        delivery.await.expect("kafka delivery");
    }
}

/// Publishes raw bodies to the RabbitMQ results queue and waits for every confirm.
pub async fn publish_rabbit(url: &str, bodies: &[Vec<u8>]) {
    use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
    let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .expect("amqp connect");
    let channel = conn.create_channel().await.expect("channel");
    squidgame_common::rabbitmq::declare_topology(&channel)
        .await
        .expect("topology");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    let mut confirms = Vec::with_capacity(bodies.len());
    for body in bodies {
        let confirm = channel
            .basic_publish(
                "".into(),
                squidgame_common::rabbitmq::RESULTS_QUEUE.into(),
                BasicPublishOptions::default(),
                body,
                lapin::BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .expect("publish");
        confirms.push(confirm);
    }
    for confirm in confirms {
        assert!(confirm.await.expect("confirm").is_ack());
    }
}

/// A free local port for a process a test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// The repository root (where `scripts/stack.sh` lives). `cargo test` names the
/// package folder at run time; that wins over the one compiled in, which belongs to
/// whichever checkout built the crate first when checkouts share a target folder.
pub fn repo_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The pid of a process the test stack started (`run/test/pids/NAME.pid`).
pub fn stack_pid(name: &str) -> Option<u32> {
    let path = repo_root()
        .join("run/test/pids")
        .join(format!("{name}.pid"));
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Sends `signal` (e.g. "KILL", "TERM") to a process of the test stack and waits until
/// it is gone.
pub fn stop_stack_process(name: &str, signal: &str) {
    let pid = stack_pid(name).unwrap_or_else(|| panic!("no pid file for {name}"));
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{signal} {name} ({pid})");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        // A zombie counts as gone.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.split_whitespace().nth(2) == Some("Z") {
            break;
        }
        assert!(Instant::now() < deadline, "{name} did not stop within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `scripts/stack.sh up` for the test stack. The addresses the tests read from the
/// environment are removed: to stack.sh they would mean "external server, do not start".
fn stack_up_command() -> Command {
    let mut command = Command::new(repo_root().join("scripts/stack.sh"));
    command.arg("up").env("STACK_PROFILE", "test");
    for name in [
        "REDIS_URL",
        "MONGO_URL",
        "KAFKA_BROKERS",
        "AMQP_URL",
        "KAFKA_IDEMPOTENCE",
        "KAFKA_ASSIGNMENT",
    ] {
        command.env_remove(name);
    }
    command
}

/// Starts whatever part of the test stack is not running (`scripts/stack.sh up`).
pub fn stack_up() {
    let out = stack_up_command().output().expect("scripts/stack.sh up");
    assert!(
        out.status.success(),
        "stack.sh up failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of an unlabelled metric on a `/metrics` page; `None` while the page is
/// not reachable.
pub async fn metric(base_url: &str, name: &str) -> Option<f64> {
    let mut res = surf::get(format!("{base_url}/metrics")).await.ok()?;
    let text = res.body_string().await.ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Restarts whatever part of the test stack a test stopped, even when the test fails.
pub struct RestoreStack;

impl Drop for RestoreStack {
    fn drop(&mut self) {
        let out = stack_up_command().output();
        if !matches!(&out, Ok(o) if o.status.success()) {
            eprintln!("could not restore the test stack: {out:?}");
        }
    }
}
