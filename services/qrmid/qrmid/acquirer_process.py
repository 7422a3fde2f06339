"""The acquirer helper process itself (``python -m qrmid.acquirer_process``): see acquirer.py
for why it exists and its protocol. It imports the resources and the store; qrmid's side
(acquirer.py) imports neither, so the modules form no circle."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from qrmid.config import Database
from qrmid.resources import QrmiResource
from qrmid.store import Store

log = logging.getLogger("qrmid.acquirer")


def main() -> int:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    init = json.loads(sys.stdin.readline() or "null")
    if not init:
        return 0
    db = init["database"]
    if isinstance(db, dict):
        password = db.pop("password", None)
        db = Database.model_validate(db).with_password(password)
    store = Store(db)
    resources = {
        name: QrmiResource.from_env(name, r["type"], r["resource_type"], r["env"])
        for name, r in init["resources"].items()
    }
    out_lock = threading.Lock()

    def answer(msg: dict[str, Any]) -> None:
        with out_lock, contextlib.suppress(OSError, ValueError):  # qrmid gone: the row is the answer
            sys.stdout.write(json.dumps(msg) + "\n")
            sys.stdout.flush()

    def work(req: dict[str, Any]) -> None:
        n, qpu = req["id"], req["qpu"]
        res = resources.get(qpu)
        if res is None:
            answer({"id": n, "error": f"unknown QPU {qpu}"})
            return
        if req.get("op") == "release":
            try:
                res.release_owned(str(req["token"]))
            except Exception as exc:
                answer({"id": n, "error": str(exc) or type(exc).__name__})
                return
            answer({"id": n, "released": True})
            return
        acq_id = req["acquisition_id"]
        try:
            token = res.acquire_blocking()
        except Exception as exc:
            answer({"id": n, "error": str(exc) or type(exc).__name__})
            return
        try:
            store.update_hold(acq_id, qpu, qrmi_token=token, state="held", acquired_at=time.time())
        except Exception as exc:
            # not recorded: nobody could release it later, so release it now
            log.error("could not record the token of %s/%s (%s); releasing it", acq_id, qpu, exc)
            with contextlib.suppress(Exception):
                res.release_owned(token)
            answer({"id": n, "error": f"could not record the acquisition: {exc}"})
            return
        answer({"id": n, "token": token})

    with ThreadPoolExecutor(max_workers=64, thread_name_prefix="acquire") as pool:
        for line in sys.stdin:
            with contextlib.suppress(ValueError, KeyError):
                pool.submit(work, json.loads(line))
    # input closed (qrmid stopped or was killed): the pool finished every call in flight
    log.info("acquirer %s: input closed, calls in flight recorded, exiting", os.getpid())
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
