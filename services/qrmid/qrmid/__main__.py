"""Run the daemon: ``qrmid --config /etc/qrmid/config.json``."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from qrmid import resources
from qrmid.api import App, create_app
from qrmid.config import ConfigProblem, load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qrmid", description=__doc__)
    parser.add_argument("--config", default="/etc/qrmid/config.json")
    parser.add_argument("--check", action="store_true", help="validate the configuration and exit")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # one line per proxied job request is noise; denials are logged by the proxy itself
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        config, secrets, token = load(args.config)
        qrmi_resources = resources.build(config, secrets)
    except (ConfigProblem, ValueError) as exc:
        print(f"qrmid: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"qrmid: configuration OK ({len(qrmi_resources)} QPU resources)")
        return 0
    # qrmi's blocking calls run in worker threads; a short GIL switch interval keeps one
    # of them from holding the event loop for the default 5 ms (tail latency under load)
    sys.setswitchinterval(0.0005)
    app = create_app(App(config, secrets, token, qrmi_resources))
    uvicorn.run(app, host=config.listen_host, port=config.listen_port, log_level=args.log_level,
                access_log=False, loop="auto", http="auto")
    return 0


if __name__ == "__main__":
    sys.exit(main())
