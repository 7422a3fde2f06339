"""``qpu-emulator --config FILE``: run the service (foreground, for systemd).
``qpu-emulator --config FILE --check``: validate the configuration and exit."""

from __future__ import annotations

import argparse
import faulthandler
import logging
import sys

from qpu_emulator import config as config_mod


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="qpu-emulator", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", required=True, help="YAML configuration file")
    parser.add_argument("--check", action="store_true", help="validate the configuration and exit")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    try:
        cfg = config_mod.load(args.config)
        config_mod.check_files(cfg, args.config)
    except config_mod.ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    scheme = "https" if cfg.listen.tls is not None else "http"
    if args.check:
        print(f"{args.config}: ok ({len(cfg.twins)} twins, listen {scheme}://{cfg.listen.host}:{cfg.listen.port})")
        return 0
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # A crash in native code (qiskit, aer, sqlite) then leaves every thread's stack in the journal.
    faulthandler.enable()
    import uvicorn

    from qpu_emulator.app import create_app

    tls = cfg.listen.tls
    uvicorn.run(
        create_app(cfg),
        host=cfg.listen.host,
        port=cfg.listen.port,
        log_level=args.log_level,
        access_log=args.log_level == "debug",
        ssl_certfile=str(tls.certificate_file) if tls else None,
        ssl_keyfile=str(tls.key_file) if tls else None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
