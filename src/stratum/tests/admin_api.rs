//! The admin HTTP API driven through `AdminApi::handle` (no network) over a real engine with
//! a warm tier, a real mover and decision log: authentication and permission, the tier
//! routes' JSON, a pinned object moved by `POST tier/run` and explained afterwards, and the
//! 409 of a server without tiering. Requests are signed with aws-sigv4, through the CLI's
//! own signer and by hand.

use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use bytes::Bytes;
use serde_json::Value;
use stratum::admin_api::{is_admin_path, AdminApi, AdminKeys};
use stratum::tier_client::AdminClient;
use stratum_auth::{MemoryCredentialStore, SecretKey};
use stratum_core::config::{DiskSetConfig, EngineConfig};
use stratum_core::{BucketName, ObjectKey, Tier};
use stratum_engine::{Engine, PutOptions};
use stratum_tiering::{
    AccessTracker, CostModel, DecisionLog, Hint, Mover, MoverConfig, Policy, PolicyConfig,
};

const REGION: &str = "us-east-1";
const ROOT: (&str, &str) = ("ROOTKEY", "root-secret-1");
const USER: (&str, &str) = ("USERKEY", "user-secret-1");
const PREFIX: &str = "/_stratum/admin/v1/tier";

struct Fixture {
    _dir: tempfile::TempDir,
    engine: Engine,
    mover: Arc<Mover>,
    api: AdminApi,
}

fn credentials() -> Arc<MemoryCredentialStore> {
    Arc::new(
        MemoryCredentialStore::new()
            .with_key(ROOT.0, ROOT.1)
            .with_key(USER.0, USER.1),
    )
}

/// An engine with hot and warm tiers, a mover over it, and the API with ROOT as admin.
async fn fixture() -> Fixture {
    fixture_with(PolicyConfig {
        warmup_s: 0.0,
        ..Default::default()
    })
    .await
}

async fn fixture_with(policy_config: PolicyConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::under(dir.path(), 6);
    config.storage.warm = Some(DiskSetConfig::under(&dir.path().join("warm"), 6));
    let (engine, _) = Engine::open(config).await.unwrap();
    let tracker = Arc::new(AccessTracker::new(
        engine.metadata().clone(),
        policy_config.clone(),
        1024,
    ));
    let log = Arc::new(DecisionLog::open(engine.metadata().clone(), 1000).unwrap());
    let model = CostModel::from_json(
        include_str!("../../tiering/tests/data/cost_model.json"),
        None,
    )
    .unwrap();
    let mover = Arc::new(Mover::new(
        engine.clone(),
        tracker,
        log,
        Policy::new(policy_config, model),
        MoverConfig {
            hot_capacity_bytes: 1 << 30,
            warm_capacity_bytes: 4 << 30,
            ..Default::default()
        },
    ));
    let api = AdminApi::new(
        Some(mover.clone()),
        credentials(),
        AdminKeys::only([ROOT.0]),
        REGION.to_owned(),
    );
    Fixture {
        _dir: dir,
        engine,
        mover,
        api,
    }
}

/// A request signed by the CLI's signer.
fn signed(
    key: (&str, &str),
    method: Method,
    route: &str,
    query: &[(&str, String)],
) -> Request<Body> {
    let client = AdminClient::new(
        "http://127.0.0.1:9000",
        REGION,
        key.0,
        SecretKey::new(key.1),
    )
    .unwrap();
    let path = format!("{PREFIX}/{route}");
    assert!(is_admin_path(&path));
    client
        .signed_request(&method, &path, query, SystemTime::now())
        .unwrap()
        .map(|()| Body::empty())
}

/// Status and JSON body of the API's answer.
async fn call(api: &AdminApi, req: Request<Body>) -> (StatusCode, Value) {
    let resp = api.handle(req).await;
    let status = resp.status();
    assert_eq!(
        resp.headers()["content-type"],
        "application/json",
        "every answer is JSON"
    );
    let body = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body)));
    (status, json)
}

async fn root_get(api: &AdminApi, route: &str, query: &[(&str, String)]) -> (StatusCode, Value) {
    call(api, signed(ROOT, Method::GET, route, query)).await
}

async fn put_pinned(engine: &Engine, bucket: &BucketName, key: &str, data: &[u8], tier: &str) {
    let body = futures::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::copy_from_slice(data))]);
    let opts = PutOptions {
        user_metadata: vec![("stratum-tier".into(), tier.into())],
        ..Default::default()
    };
    engine
        .put_object(bucket, &ObjectKey::new(key).unwrap(), body, opts)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_requests_are_denied() {
    let f = fixture().await;
    let req = Request::builder()
        .uri(format!("{PREFIX}/summary"))
        .header("host", "127.0.0.1:9000")
        .body(Body::empty())
        .unwrap();
    let (status, body) = call(&f.api, req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "AccessDenied");
    assert!(body["message"].as_str().unwrap().contains("SigV4"));
    // Unknown routes are not revealed to an unsigned caller either.
    let req = Request::builder()
        .uri("/_stratum/admin/v9/nothing")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&f.api, req).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_denied() {
    let f = fixture().await;
    let (status, body) = call(
        &f.api,
        signed((ROOT.0, "not-the-secret"), Method::GET, "summary", &[]),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "SignatureDoesNotMatch");
    let (status, body) = call(
        &f.api,
        signed(("NOSUCHKEY", "whatever-1"), Method::GET, "summary", &[]),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "InvalidAccessKeyId");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_is_not_root_is_denied() {
    let f = fixture().await;
    for (method, route) in [(Method::GET, "summary"), (Method::POST, "run")] {
        let (status, body) = call(&f.api, signed(USER, method, route, &[])).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{route}");
        assert_eq!(body["code"], "AccessDenied", "{route}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_empty_body_hash_is_accepted_and_a_body_hash_is_not() {
    let f = fixture().await;
    let by_hand = |payload: SignableBody<'_>| {
        let url = format!("http://127.0.0.1:9000{PREFIX}/summary");
        let identity = Credentials::new(ROOT.0, ROOT.1, None, None, "test").into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            "GET",
            &url,
            std::iter::once(("host", "127.0.0.1:9000")),
            payload,
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut req = Request::builder()
            .uri(format!("{PREFIX}/summary"))
            .header("host", "127.0.0.1:9000")
            .body(Body::empty())
            .unwrap();
        instructions.apply_to_request_http1x(&mut req);
        req
    };
    let (status, body) = call(&f.api, by_hand(SignableBody::Bytes(b""))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(&f.api, by_hand(SignableBody::Bytes(b"{}"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "InvalidRequest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_has_three_tiers() {
    let f = fixture().await;
    let (status, body) = root_get(&f.api, "summary", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let tiers = body["tiers"].as_array().unwrap();
    let names: Vec<&str> = tiers.iter().map(|t| t["tier"].as_str().unwrap()).collect();
    assert_eq!(names, ["hot", "warm", "cold"]);
    let configured: Vec<bool> = tiers
        .iter()
        .map(|t| t["configured"].as_bool().unwrap())
        .collect();
    assert_eq!(configured, [true, true, false]);
    assert_eq!(body["pending_moves"], 0);
    assert!(body["monthly_cost_usd"].is_number());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_object_moves_on_run_and_is_explained() {
    let f = fixture().await;
    let b = BucketName::new("photos").unwrap();
    f.engine.create_bucket(&b).await.unwrap();
    let data = b"a small object that asks for the warm tier ".repeat(100);
    put_pinned(&f.engine, &b, "2024/cat.jpg", &data, "warm").await;

    // The run waits for its moves.
    let (status, report) = call(&f.api, signed(ROOT, Method::POST, "run", &[])).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert!(report["moved"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    let key = ObjectKey::new("2024/cat.jpg").unwrap();
    assert_eq!(
        f.engine.head_object(&b, &key).await.unwrap().tier,
        Tier::Warm
    );

    let object = [
        ("bucket", "photos".to_owned()),
        ("key", "2024/cat.jpg".to_owned()),
    ];
    let (status, explained) = root_get(&f.api, "explain", &object).await;
    assert_eq!(status, StatusCode::OK, "{explained}");
    assert_eq!(explained["tier"], "warm");
    assert_eq!(explained["hint"], "warm");
    assert_eq!(explained["size"], data.len());
    assert!(explained["location"]["frames"].as_u64().unwrap() >= 1);
    let pinned = explained["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["reason"] == "pinned_hint")
        .unwrap_or_else(|| panic!("no pinned_hint decision: {explained}"));
    assert_eq!(pinned["outcome"]["kind"], "done", "{pinned}");
    assert_eq!(pinned["to"], "warm");
    assert!(explained["next"]["action"].is_string());

    // The decisions route has it too, with its id, newest first.
    let (status, listed) = root_get(&f.api, "decisions", &object).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let decisions = listed["decisions"].as_array().unwrap();
    assert!(decisions.iter().any(|d| d["reason"] == "pinned_hint"
        && d["outcome"]["kind"] == "done"
        && d["id"].is_u64()));
    let ids: Vec<u64> = decisions
        .iter()
        .map(|d| d["id"].as_u64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let (_, limited) = root_get(&f.api, "decisions", &[("limit", "1".to_owned())]).await;
    assert_eq!(limited["decisions"].as_array().unwrap().len(), 1);

    // Another bucket's decisions: none.
    let (status, other) = root_get(&f.api, "decisions", &[("bucket", "videos".to_owned())]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(other["decisions"], serde_json::json!([]));

    // The summary counts the object in warm.
    let (_, summary) = root_get(&f.api, "summary", &[]).await;
    assert_eq!(summary["tiers"][1]["objects"], 1, "{summary}");
}

/// New versions are placed by the policy (as replay places PUTs): a bucket whose objects
/// are never read early learns a prior of zero at the next pass, and its new versions then
/// skip hot, while a bucket with no history keeps the default prior and lands in hot. A
/// placement outside hot is logged with its reason; a pin to an unconfigured tier (cold)
/// falls to the lowest local one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_versions_are_placed_by_the_learned_prior() {
    let f = fixture_with(PolicyConfig {
        warmup_s: 0.0,
        prior_window_s: 1.0,
        prior_learning_rate: 1.0,
        new_object_prior_accesses: 50.0,
        // The second prior (GETs up to two days after upload) would keep its default
        // for two days; without it the first window alone decides.
        new_object_long_prior_accesses: 0.0,
        ..Default::default()
    })
    .await;
    let backups = BucketName::new("backups").unwrap();
    let fresh = BucketName::new("fresh").unwrap();
    let size = 64 * 1024;
    assert_eq!(
        f.mover.place_new(&backups, size, Hint::Auto).tier(),
        Tier::Hot,
        "before any history, the default prior (50 early GETs) earns hot"
    );
    f.engine.create_bucket(&backups).await.unwrap();
    let data = vec![7u8; size as usize];
    for i in 0..3 {
        put_pinned(&f.engine, &backups, &format!("night-{i}"), &data, "auto").await;
    }
    // Their prior windows (1 s) end unread; the next pass learns from them.
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    f.mover.run_now().await.unwrap();
    let placed = f.mover.place_new(&backups, size, Hint::Auto);
    assert_ne!(
        placed.tier(),
        Tier::Hot,
        "a never-read bucket's new version skips hot"
    );
    assert_eq!(placed.write_to, Tier::Warm);
    assert_eq!(
        f.mover.place_new(&fresh, size, Hint::Auto).tier(),
        Tier::Hot,
        "another bucket keeps the default prior"
    );
    let pinned = f.mover.place_new(&fresh, size, Hint::Pinned(Tier::Cold));
    assert_eq!((pinned.tier(), pinned.write_to), (Tier::Warm, Tier::Warm));

    // The PUT path writes where it was told and reports back; the placement is logged.
    let key = ObjectKey::new("night-3").unwrap();
    let body = futures::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from(data.clone()))]);
    let opts = PutOptions {
        tier: placed.write_to,
        ..Default::default()
    };
    let info = f
        .engine
        .put_object(&backups, &key, body, opts)
        .await
        .unwrap();
    f.mover.placed(&backups, &key, info.seq, placed);
    f.mover.log().flush().unwrap();
    assert_eq!(
        f.engine.head_object(&backups, &key).await.unwrap().tier,
        Tier::Warm
    );
    let object = [
        ("bucket", "backups".to_owned()),
        ("key", "night-3".to_owned()),
    ];
    let (status, explained) = root_get(&f.api, "explain", &object).await;
    assert_eq!(status, StatusCode::OK, "{explained}");
    let first = &explained["decisions"][0];
    assert_eq!(first["reason"], "placement", "{explained}");
    assert_eq!(first["to"], "warm", "{explained}");
    assert!(
        first["from"].is_null(),
        "a placement comes from nowhere: {explained}"
    );
    assert_eq!(first["outcome"]["kind"], "done", "{explained}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_errors() {
    let f = fixture().await;
    let missing = [
        ("bucket", "photos".to_owned()),
        ("key", "nothing-here".to_owned()),
    ];
    let (status, body) = root_get(&f.api, "explain", &missing).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["code"] == "NoSuchKey" || body["code"] == "NoSuchBucket",
        "{body}"
    );
    let bad = [
        ("bucket", "Not_A_Bucket".to_owned()),
        ("key", "k".to_owned()),
    ];
    let (status, body) = root_get(&f.api, "explain", &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "InvalidBucketName");
    let (status, body) = root_get(&f.api, "decisions", &[("limit", "10001".into())]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "InvalidArgument");
    let (status, body) = root_get(&f.api, "nothing", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "NotFound");
    let (status, body) = root_get(&f.api, "run", &[]).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["code"], "MethodNotAllowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiering_disabled_answers_409() {
    let api = AdminApi::new(
        None,
        credentials(),
        AdminKeys::only([ROOT.0]),
        REGION.to_owned(),
    );
    for (method, route) in [
        (Method::GET, "summary"),
        (Method::GET, "decisions"),
        (Method::POST, "run"),
    ] {
        let (status, body) = call(&api, signed(ROOT, method, route, &[])).await;
        assert_eq!(status, StatusCode::CONFLICT, "{route}");
        assert_eq!(body["code"], "TieringDisabled", "{route}");
    }
    // Authentication still comes first.
    let (status, _) = call(&api, signed(USER, Method::GET, "summary", &[])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// The CLI commands against the API served over loopback HTTP: the client's connection,
/// Host header and signature survive the wire, human and JSON output both.
#[test]
fn the_cli_commands_call_the_api_over_http() {
    use stratum::cli::{AdminEndpoint, TierCommand, TierDecisionsArgs, TierExplainArgs};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (f, endpoint) = runtime.block_on(async {
        let f = fixture().await;
        let b = BucketName::new("photos").unwrap();
        f.engine.create_bucket(&b).await.unwrap();
        put_pinned(&f.engine, &b, "cat.jpg", &[7u8; 5000], "warm").await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let api = f.api.clone();
        let app = axum::Router::new().fallback(move |req: Request<Body>| {
            let api = api.clone();
            async move { api.handle(req).await }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        (f, endpoint)
    });
    let dir = tempfile::tempdir().unwrap();
    let server = |key: (&str, &str), json: bool| AdminEndpoint {
        endpoint: Some(endpoint.clone()),
        access_key: Some(key.0.to_owned()),
        secret_key: Some(key.1.to_owned()),
        region: None,
        json,
        location: stratum::cli::Location {
            config: None,
            data_dir: Some(dir.path().to_owned()),
        },
    };
    let run = |command: TierCommand| {
        let mut out = Vec::new();
        stratum::tier::command(&command, &mut out).map(|()| String::from_utf8(out).unwrap())
    };

    let report = run(TierCommand::Run(server(ROOT, false))).unwrap();
    assert!(report.starts_with("pass done: "), "{report}");
    let explained = run(TierCommand::Explain(TierExplainArgs {
        object: "photos/cat.jpg".into(),
        server: server(ROOT, false),
    }))
    .unwrap();
    assert!(explained.contains("tier:        warm"), "{explained}");
    assert!(explained.contains("pinned_hint"), "{explained}");
    assert!(explained.contains("\nnext: "), "{explained}");
    let json = run(TierCommand::Decisions(TierDecisionsArgs {
        bucket: Some("photos".into()),
        key: None,
        since: Some("1h".into()),
        until: None,
        limit: 10,
        server: server(ROOT, true),
    }))
    .unwrap();
    let listed: Value = serde_json::from_str(&json).unwrap();
    assert!(
        listed["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["reason"] == "pinned_hint"),
        "{listed}"
    );
    let summary = run(TierCommand::Summary(server(ROOT, false))).unwrap();
    assert!(summary.contains("monthly cost: "), "{summary}");
    // A key that is not root gets the server's error, code and all.
    let denied = run(TierCommand::Summary(server(USER, false))).unwrap_err();
    assert!(
        format!("{denied:#}").contains("403 Forbidden AccessDenied"),
        "{denied:#}"
    );
    drop(f);
    runtime.shutdown_background();
}

#[test]
fn the_tier_commands_parse() {
    use clap::Parser;
    use stratum::cli::{Cli, Command, TierCommand};
    let cli = Cli::try_parse_from([
        "stratum",
        "tier",
        "explain",
        "photos/2024/cat.jpg",
        "--endpoint",
        "http://127.0.0.1:9000",
        "--region",
        "eu-west-1",
    ])
    .unwrap();
    let Some(Command::Tier {
        command: TierCommand::Explain(args),
    }) = cli.command
    else {
        panic!("not tier explain");
    };
    assert_eq!(args.object, "photos/2024/cat.jpg");
    assert_eq!(args.server.region.as_deref(), Some("eu-west-1"));
    for argv in [
        &["stratum", "tier", "summary", "--json"][..],
        &["stratum", "tier", "run", "--config", "s.toml"],
        &[
            "stratum",
            "tier",
            "decisions",
            "--bucket",
            "photos",
            "--key",
            "a/b",
            "--since",
            "2026-01-01T00:00:00Z",
            "--limit",
            "10000",
        ],
    ] {
        assert!(Cli::try_parse_from(argv).is_ok(), "{argv:?}");
    }
    assert!(Cli::try_parse_from(["stratum", "tier", "summary", "--secret-key", "x"]).is_err());
}
