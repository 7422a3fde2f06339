"""`listen.tls`: the service serves HTTPS with the configured certificate and key, and
`--check` refuses a configuration whose files are missing, unreadable or do not match."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml
from conftest import free_port, write_config


def make_cert(directory: Path, name: str = "emu") -> tuple[Path, Path]:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qpu_emulator", "--config", str(path), "--check"], capture_output=True, text=True
    )


def with_tls(tmp_path: Path, cert: Path, key: Path, port: int = 8480) -> Path:
    path = write_config(tmp_path, port)
    cfg = yaml.safe_load(path.read_text())
    cfg["listen"]["tls"] = {"certificate_file": str(cert), "key_file": str(key)}
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_check_refuses_missing_unreadable_or_mismatched_files(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path)
    other_cert, _ = make_cert(tmp_path, "other")
    missing = check(with_tls(tmp_path, cert, tmp_path / "nowhere.key"))
    assert missing.returncode == 2 and "listen.tls.key_file" in missing.stderr, missing.stderr
    missing = check(with_tls(tmp_path, tmp_path / "nowhere.crt", key))
    assert missing.returncode == 2 and "listen.tls.certificate_file" in missing.stderr, missing.stderr
    mismatched = check(with_tls(tmp_path, other_cert, key))
    assert mismatched.returncode == 2 and "listen.tls" in mismatched.stderr, mismatched.stderr
    if os.geteuid() != 0:  # root reads mode-0 files anyway
        key.chmod(0)
        unreadable = check(with_tls(tmp_path, cert, key))
        assert unreadable.returncode == 2 and "listen.tls.key_file" in unreadable.stderr
        key.chmod(0o600)
    ok = check(with_tls(tmp_path, cert, key))
    assert ok.returncode == 0 and "https://" in ok.stdout, ok.stderr


def test_serves_https_with_the_configured_certificate(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path)
    port = free_port()
    path = with_tls(tmp_path, cert, key, port)
    cfg = yaml.safe_load(path.read_text())
    cfg["workers"] = 1
    path.write_text(yaml.safe_dump(cfg))
    log = open(tmp_path / "service.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "qpu_emulator", "--config", str(path)], stdout=log, stderr=log)
    try:
        ctx = ssl.create_default_context(cafile=str(cert))
        deadline = time.time() + 180
        while True:
            assert proc.poll() is None, (tmp_path / "service.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{port}/health", context=ctx, timeout=5) as r:  # noqa: S310
                    assert json.loads(r.read())["version"]
                    break
            except urllib.error.HTTPError as err:  # 503 while starting: TLS works
                assert err.code == 503
                break
            except (OSError, ssl.SSLError):
                assert time.time() < deadline
                time.sleep(0.3)
        # Plain HTTP on the TLS port is not served.
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)  # noqa: S310
            raise AssertionError("plain HTTP answered on the TLS port")
        except (OSError, urllib.error.URLError):
            pass
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
