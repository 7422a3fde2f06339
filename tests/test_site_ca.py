"""The rehearsal's site CA (rehearsal/site_ca.py) and the model's TLS section (facility.network.tls).

Certificates are verified the way clients will verify them: Python's ssl with
the CA as the only trust anchor, against each host's name, FQDN and address.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from rehearsal.secrets_file import put_secrets
from rehearsal.site_ca import ensure_site_ca, service_hosts
from site_survey import SiteModelError, load_site
from site_survey.derive import emulator_base_url, qrmi_settings, qrmid_url, site_vars
from tests.conftest import REPO

LAB = REPO / "inventories" / "lab" / "site.yaml"


def _site(tmp_path: Path, tls: dict[str, Any] | None) -> Path:
    doc = yaml.safe_load(LAB.read_text())
    if tls is None:
        doc["facility"]["network"].pop("tls", None)
    else:
        doc["facility"]["network"]["tls"] = tls
    path = tmp_path / "site" / "site.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
def tls_site(tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_site(_site(tmp_path, {"enabled": True, "ca_certificate_file": ".rehearsal/tls/ca.crt"}))


def _handshake(ca_file: Path, cert: Path, key: Path, server_name: str) -> str:
    """A TLS handshake on loopback with `cert`, checked by a client that trusts only `ca_file`."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(ca_file))
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            client_ctx.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            version = tls.version() or ""
            tls.sendall(b"x")
    finally:
        thread.join(timeout=10)
        listener.close()
    return version


def test_ca_issues_certificates_that_verify_with_the_hosts_names_and_addresses(tmp_path: Path, tls_site) -> None:  # type: ignore[no-untyped-def]
    tls_dir = tmp_path / "tls"
    issued = ensure_site_ca(tls_dir, tls_site)
    assert issued.ca_created
    hosts = service_hosts(tls_site)
    assert [h.name for h in hosts] == ["qgw"]  # the lab's only qpu_access/emulator host
    ca = x509.load_pem_x509_certificate(issued.ca_certificate.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for host in hosts:
        cert_path, key_path = tls_dir / f"{host.name}.crt", tls_dir / f"{host.name}.key"
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        cert.verify_directly_issued_by(ca)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert set(san.get_values_for_type(x509.DNSName)) == {host.name, f"{host.name}.lab.internal"}
        assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address(host.address)]
        assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        for name in (host.name, f"{host.name}.lab.internal", host.address):
            assert _handshake(issued.ca_certificate, cert_path, key_path, name).startswith("TLS")
        with pytest.raises(ssl.SSLCertVerificationError):
            _handshake(issued.ca_certificate, cert_path, key_path, "ctl.lab.internal")
    # the vaulted variables the rollout reads, with the PEM text
    assert set(issued.secrets) == {"vault_tls_qgw_certificate", "vault_tls_qgw_key"}
    assert "PRIVATE KEY" in issued.secrets["vault_tls_qgw_key"]


def test_keys_are_private_and_nothing_is_reissued_on_a_rerun(tmp_path: Path, tls_site) -> None:  # type: ignore[no-untyped-def]
    tls_dir = tmp_path / "tls"
    first = ensure_site_ca(tls_dir, tls_site)
    assert stat.S_IMODE(tls_dir.stat().st_mode) == 0o700
    for key in tls_dir.glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    for cert in tls_dir.glob("*.crt"):
        assert stat.S_IMODE(cert.stat().st_mode) == 0o644, cert
    before = {p.name: p.read_bytes() for p in tls_dir.iterdir()}
    again = ensure_site_ca(tls_dir, tls_site)
    assert not again.ca_created and again.issued == []
    assert {p.name: p.read_bytes() for p in tls_dir.iterdir()} == before
    assert again.secrets == first.secrets


def test_a_host_whose_address_changed_gets_a_new_certificate(tmp_path: Path, tls_site) -> None:  # type: ignore[no-untyped-def]
    tls_dir = tmp_path / "tls"
    ensure_site_ca(tls_dir, tls_site)
    qgw = tls_site.host("qgw")
    qgw.address = "10.77.0.21"
    again = ensure_site_ca(tls_dir, tls_site)
    assert again.issued == ["qgw"] and not again.ca_created
    cert = x509.load_pem_x509_certificate((tls_dir / "qgw.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.77.0.21")]


def test_put_secrets_changes_only_what_differs(tmp_path: Path) -> None:
    path = tmp_path / "secrets.yml"
    assert put_secrets(path, {"a": "1", "b": "x\ny\n"}) == ["a", "b"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert put_secrets(path, {"a": "1", "b": "x\ny\n"}) == []
    assert put_secrets(path, {"a": "2"}) == ["a"]
    assert yaml.safe_load(path.read_text()) == {"a": "2", "b": "x\ny\n"}


def test_urls_follow_the_tls_switch(tmp_path: Path, tls_site) -> None:  # type: ignore[no-untyped-def]
    plain = load_site(_site(tmp_path / "plain", None))
    sc = plain.qpu("sc_twin")
    assert sc is not None
    assert emulator_base_url(plain, sc) == "http://10.77.0.20:8480"
    assert qrmid_url(plain) == "http://10.77.0.20:8470"
    assert site_vars(plain)["qpusite_tls"] == {"enabled": False, "ca_certificate_file": "", "hosts": {}}
    sc = tls_site.qpu("sc_twin")
    assert sc is not None
    assert emulator_base_url(tls_site, sc) == "https://10.77.0.20:8480"
    assert qrmi_settings(tls_site, sc)["QRMI_IBM_QCS_ENDPOINT"] == "https://10.77.0.20:8480/v1"
    fresnel = tls_site.qpu("FRESNEL")
    assert fresnel is not None
    assert qrmi_settings(tls_site, fresnel)["QRMI_PASQAL_CLOUD_BASE_URL"] == "https://10.77.0.20:8480"
    variables = site_vars(tls_site)
    assert variables["qpusite_qrmid_url"] == "https://10.77.0.20:8470"
    assert variables["qpusite_tls"]["hosts"] == {
        "qgw": {"certificate": "vault_tls_qgw_certificate", "key": "vault_tls_qgw_key"}
    }


def test_a_site_names_its_own_vaulted_certificate_and_key(tmp_path: Path) -> None:
    site = load_site(
        _site(
            tmp_path,
            {
                "enabled": True,
                "ca_certificate_file": "pki/site-ca.pem",
                "hosts": {"qgw": {"certificate": {"vault": "vault_qgw_crt"}, "key": {"vault": "vault_qgw_key"}}},
            },
        )
    )
    tls = site_vars(site)["qpusite_tls"]
    assert tls["ca_certificate_file"] == "pki/site-ca.pem"
    assert tls["hosts"]["qgw"] == {"certificate": "vault_qgw_crt", "key": "vault_qgw_key"}


@pytest.mark.parametrize(
    "tls",
    [
        {"enabled": True},  # no CA
        {"enabled": True, "ca_certificate_file": "ca.pem", "hosts": {"qgw": {"certificate": {"vault": "x"}}}},
        {
            "enabled": True,
            "ca_certificate_file": "ca.pem",
            "hosts": {"qgw": {"certificate": "-----BEGIN", "key": {"vault": "k"}}},
        },
    ],
    ids=["no-ca", "no-key-ref", "pem-pasted"],
)
def test_invalid_tls_sections_are_refused(tmp_path: Path, tls: dict[str, Any]) -> None:
    with pytest.raises(SiteModelError):
        load_site(_site(tmp_path, tls))


def test_the_rollout_gets_the_rehearsal_ca_only_when_there_is_one(tmp_path: Path) -> None:
    from rehearsal.paths import SitePaths
    from rehearsal.rollout import playbook_command

    paths = SitePaths("lab", tmp_path / "site.yaml")
    assert not any("qpusite_tls_ca_certificate_file" in a for a in playbook_command(paths))
    paths.tls_dir.mkdir(parents=True)
    paths.ca_certificate.write_text("-----BEGIN CERTIFICATE-----\n")
    command = playbook_command(paths)
    assert f"qpusite_tls_ca_certificate_file={paths.ca_certificate}" in command
    assert command[command.index(f"qpusite_tls_ca_certificate_file={paths.ca_certificate}") - 1] == "-e"
