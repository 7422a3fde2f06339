"""Run the daemon: ``qrmid --config /etc/qrmid/config.json``."""

from __future__ import annotations

import argparse
import logging
import os
import sys

import uvicorn

from qrmid import resources
from qrmid.api import App, create_app
from qrmid.config import ConfigProblem, load

# The distributions' CA bundles (Debian/Ubuntu, RHEL/Fedora, SUSE): the same certificates
# update-ca-certificates / update-ca-trust also spread over /etc/ssl/certs.
CA_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
)


def default_ca_bundle() -> None:
    """Point qrmi's TLS (rustls, native roots) at the CA bundle file when nothing is configured.

    Without SSL_CERT_FILE / SSL_CERT_DIR, rustls-native-certs loads the probed bundle *and*
    every file of /etc/ssl/certs, for each qrmi instance: 3.6 ms of CPU with the GIL held
    (qrmid's event loop stands still meanwhile); the bundle alone, the same CAs, 0.5 ms.
    qrmid's acquirer process makes instances as its pool of them grows, qrmid for releases.
    An operator's own SSL_CERT_FILE or SSL_CERT_DIR is left as it is. httpx (the job proxy)
    honours SSL_CERT_FILE too, so the proxy trusts the same system CAs as qrmi (not certifi's)."""
    if "SSL_CERT_FILE" in os.environ or "SSL_CERT_DIR" in os.environ:
        return
    for path in CA_BUNDLES:
        if os.path.isfile(path):
            os.environ["SSL_CERT_FILE"] = path  # inherited by the acquirer process
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qrmid", description=__doc__)
    parser.add_argument("--config", default="/etc/qrmid/config.json")
    parser.add_argument("--check", action="store_true", help="validate the configuration and exit")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # one line per proxied job request is noise; denials are logged by the proxy itself
    logging.getLogger("httpx").setLevel(logging.WARNING)
    default_ca_bundle()
    try:
        config, secrets, token = load(args.config)
        qrmi_resources = resources.build(config, secrets)
    except (ConfigProblem, ValueError) as exc:
        print(f"qrmid: {exc}", file=sys.stderr)
        return 2
    if args.check:
        https = ", HTTPS" if config.tls is not None else ""
        print(f"qrmid: configuration OK ({len(qrmi_resources)} QPU resources, cluster {config.cluster}{https})")
        return 0
    # qrmi's blocking calls run in worker threads; a short GIL switch interval keeps one
    # of them from holding the event loop for the default 5 ms (tail latency under load)
    sys.setswitchinterval(0.0005)
    app = create_app(App(config, secrets, token, qrmi_resources))
    tls = config.tls  # HTTPS when set (certificate and key checked by load())
    uvicorn.run(app, host=config.listen_host, port=config.listen_port, log_level=args.log_level,
                access_log=False, loop="auto", http="auto",
                ssl_certfile=tls.certificate_file if tls else None, ssl_keyfile=tls.key_file if tls else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
