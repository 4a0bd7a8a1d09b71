#!/usr/bin/env bash
# The one command that runs every test of Stratum (README: "Run all the tests").
# It installs what a fresh machine lacks, then runs the whole workspace suite, including
# every criterion benchmark once at toy size (so benches never rot).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Two cores: keep the build from starving the tests of memory, and fail on warnings in CI.
export RUSTFLAGS="${RUSTFLAGS:-} -D warnings"

echo "== formatting"
cargo fmt --all -- --check

echo "== clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The GPU recompression path (feature `gpu`) must build everywhere; its CPU fallback is
# tested below on machines without a GPU.
cargo clippy -p stratum-codec --all-targets --features gpu --quiet -- -D warnings
cargo check -p stratum --features gpu --quiet

echo "== end-to-end clients (awscli, boto3, rclone into target/e2e-venv)"
./scripts/e2e-deps.sh

echo "== tests (unit, integration, crash, model, benches at toy size)"
cargo test --workspace --all-targets --no-fail-fast

echo "== GPU feature (CPU fallback without a GPU)"
cargo test -p stratum-codec --features gpu

echo "== doctests"
cargo test --workspace --doc

echo "== API docs (broken intra-doc links fail)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
