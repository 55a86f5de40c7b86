"""CPU of one ``POST /api/v1/cases`` in process, through the real app, on PostgreSQL.

```
.venv/bin/python benchmarks/intakecost.py [--requests 3000] [--profile [--top 30]]
```

On a throwaway database (migrated; an enterprise and its API token, as ``peers.py`` sets ours up),
the app of ``create_app`` with the services' configuration (PostgreSQL 127.0.0.1:5432, RabbitMQ
as broker: intake never talks to it) is called as gunicorn's sync worker calls it: a WSGI environ
per request (the body ``peers.CASE_BODY``, the bearer token), the app called, its answer read.
Each request's CPU (``time.process_time``: this process only; PostgreSQL's work is in its own
process) and wall time (``time.perf_counter``) is taken, after a warm-up. Printed: the median of
each, ``least_ms``: the least mean CPU of a block of 100 consecutive requests (on a shared
machine, the figure other work moves least: compare it run to run, before/after alternating),
and a breakdown of the request's CPU (medians, each piece called alone the same way):

* ``validate_ms``: the schema's load of the body, as intake makes it (``quick_load`` of
  ``case_input_schema``);
* ``write_ms``: ``accept_by_token`` (validation, then the one statement, in autocommit);
* ``answer_ms``: the answer from the case written (``api._created``: ``case_to_dict``, ``jsonify``),
  in a request context;
* ``flask_ms``: the rest: request - write - answer (WSGI, request context, hooks, headers).

``--instructions``: instead, the instructions each piece costs a call, counted by valgrind's
callgrind (the figure a shared machine does not move): this script run again under valgrind with
instrumentation off until the app is made and warm, then ``--requests`` calls of the piece inside
one ``functools.reduce`` (the only function whose instructions are collected); pieces ``request``,
``validate``, ``write``, ``answer``, ``deadlines`` (``--pieces``). About a minute a piece for 100
calls. Last line ``intakeinstructions: request=<n> ... calls=<n>``.

``bare_ms``: the same for ``peers.py``'s bare endpoint (its app, its table in the same database),
the other side of ``intake_vs_bare``, called the same way. ``--cold MB``: before every timed call,
``MB`` megabytes of memory are streamed through the caches (outside the timing), as the other
processes of a server on two cores do between two requests; with caches cold a request costs
what its memory footprint costs too, not only its instructions (which the warm figures show).

Every answer is checked (201, JSON with a reference); the cases are left in the database, which
is dropped at the end. ``--profile`` runs the requests once more under cProfile and prints the
``--top`` entries by own time and by cumulative time (those figures are several times slower).
Last line (one line)::

    intakecost: request_ms=<n> least_ms=<n> wall_ms=<n> validate_ms=<n> write_ms=<n> answer_ms=<n>
        flask_ms=<n> bare_ms=<n> cold_mb=<n> requests=<n>
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import throwaway_database  # noqa: E402
from peers import CASE_BODY, DATABASES, body_bytes, make_bare_app, setup_bare, setup_ours  # noqa: E402

from workstation.config import Config  # noqa: E402
from workstation.services.intake import accept_by_token  # noqa: E402
from workstation.services.schemas import case_input_schema, quick_load  # noqa: E402
from workstation.web import api, create_app  # noqa: E402

PATH = "/api/v1/cases"
#: requests of a block, for ``least_ms``
BLOCK = 100


def environ_for(body: bytes, token: str, path: str = PATH) -> dict[str, Any]:
    """What gunicorn's sync worker gives the app for the request (less its socket and file wrapper)."""
    return {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "RAW_URI": path,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "HTTP_ACCEPT": "*/*",
        "HTTP_CONNECTION": "keep-alive",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def poster(app: Any, body: bytes, token: str, path: str = PATH) -> Callable[[], bytes]:
    """One request through the WSGI app, as a sync worker makes it: its answer's body (checked)."""
    base = environ_for(body, token, path)
    started: list[str] = []

    def start_response(status: str, _headers: list[tuple[str, str]], _exc_info: Any = None) -> None:
        started.append(status)

    def post() -> bytes:
        started.clear()
        environ = {**base, "wsgi.input": io.BytesIO(body)}
        result = app(environ, start_response)
        try:
            answer = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        if not started or not started[0].startswith("201"):
            raise RuntimeError(f"{started}: {answer[:300]!r}")
        return answer

    return post


#: ``--cold``: the memory streamed through the caches before each timed call (0: none)
_COLD = bytearray()


def chill() -> None:
    """Every cache line of ``_COLD`` read, then written (a copy, then one byte a page)."""
    if _COLD:
        bytes(_COLD)
        _COLD[::4096] = bytes(len(range(0, len(_COLD), 4096)))


def timed(call: Callable[[], Any], times: int) -> tuple[list[float], list[float]]:
    """(CPU ms, wall ms) of each of ``times`` calls of ``call``, after a warm-up of 50; with
    ``--cold``, the caches chilled before each (``chill``, not timed)."""
    for _ in range(50):
        call()
    cpu, wall = [], []
    for _ in range(times):
        chill()
        c0, w0 = time.process_time(), time.perf_counter()
        call()
        c1, w1 = time.process_time(), time.perf_counter()
        cpu.append((c1 - c0) * 1000)
        wall.append((w1 - w0) * 1000)
    return cpu, wall


def measure(app: Any, token: str, times: int) -> dict[str, float]:
    body = body_bytes(CASE_BODY)
    post = poster(app, body, token)
    answer = json.loads(post())
    assert answer["reference"].startswith("RPA-"), answer
    engine = app.extensions["workstation"]["engine"]
    figures: dict[str, float] = {}
    cpu, wall = timed(post, times)
    figures["request_ms"], figures["wall_ms"] = statistics.median(cpu), statistics.median(wall)
    figures["least_ms"] = min(statistics.fmean(cpu[i : i + BLOCK]) for i in range(0, len(cpu) - BLOCK + 1, BLOCK))
    raw = json.loads(body)
    figures["validate_ms"] = statistics.median(timed(lambda: quick_load(case_input_schema, raw), times)[0])
    figures["write_ms"] = statistics.median(timed(lambda: accept_by_token(engine, token, raw), times)[0])
    case = accept_by_token(engine, token, raw)
    with app.test_request_context(PATH, method="POST"):
        figures["answer_ms"] = statistics.median(timed(lambda: api._created(case), times)[0])  # noqa: SLF001
    figures["flask_ms"] = figures["request_ms"] - figures["write_ms"] - figures["answer_ms"]
    return figures


def measure_bare(server_url: str, database: str, times: int) -> float:
    """Median CPU ms of a request to ``peers.py``'s bare endpoint, in process, as ``measure``'s."""
    os.environ["PEERS_BARE_DB"] = setup_bare(server_url, database)["PEERS_BARE_DB"]
    post = poster(make_bare_app(), body_bytes(CASE_BODY), "", "/intake")  # (its header unread)
    return statistics.median(timed(post, times)[0])


def profile(app: Any, token: str, times: int, top: int) -> None:
    post = poster(app, body_bytes(CASE_BODY), token)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(times):
        post()
    profiler.disable()
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(top)
        print(f"--- cProfile of {times} requests, by {order} ---")
        print(out.getvalue())


#: The pieces ``--instructions`` counts, each as a call made from the app and its token.
PIECES = ("request", "validate", "write", "answer", "deadlines")


def piece_call(app: Any, token: str, piece: str) -> Callable[[], Any]:
    """One call of ``piece`` (``PIECES``), as ``measure`` times it."""
    from workstation.deadlines import deadlines_for

    engine = app.extensions["workstation"]["engine"]
    body = body_bytes(CASE_BODY)
    raw = json.loads(body)
    if piece == "request":
        return poster(app, body, token)
    if piece == "validate":
        return lambda: quick_load(case_input_schema, raw)
    if piece == "write":
        return lambda: accept_by_token(engine, token, raw)
    case = accept_by_token(engine, token, raw)
    if piece == "deadlines":
        return lambda: deadlines_for(case)
    app.test_request_context(PATH, method="POST").push()  # (the answer is made in a request)
    return lambda: api._created(case)  # noqa: SLF001


def count_in_callgrind(app: Any, token: str, piece: str, calls: int) -> None:
    """Under valgrind (``--instr-atstart=no``): warm, instrumentation on, then ``calls`` calls of
    ``piece`` inside one ``functools.reduce``, the function whose instructions are collected."""
    call = piece_call(app, token, piece)
    for _ in range(30):
        call()
    subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], check=True, capture_output=True)
    for _ in range(10):
        call()
    functools.reduce(lambda _done, _i: call(), range(calls), None)


def instructions(pieces: list[str], calls: int) -> dict[str, int]:
    """Instructions a call of each piece: this script under callgrind (``count_in_callgrind``)."""
    found = {}
    with tempfile.TemporaryDirectory() as folder:
        for piece in pieces:
            out = Path(folder) / f"{piece}.out"
            command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no",
                       "--toggle-collect=functools_reduce", f"--callgrind-out-file={out}",
                       sys.executable, __file__, "--in-callgrind", piece, "--requests", str(calls)]  # fmt: skip
            subprocess.run(command, check=True, capture_output=True)
            totals = subprocess.run(["callgrind_annotate", str(out)], check=True, capture_output=True, text=True)
            line = next(row for row in totals.stdout.splitlines() if "PROGRAM TOTALS" in row)
            found[piece] = int(line.split()[0].replace(",", "")) // calls
            print(f"{piece}: {found[piece]:,} instructions a call ({calls} calls)", flush=True)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests measured (3000; at least 100)")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672//", help="unused by intake")
    parser.add_argument("--profile", action="store_true", help="then the requests again under cProfile")
    parser.add_argument("--top", type=int, default=30, help="entries of the profile shown (30)")
    parser.add_argument("--instructions", action="store_true", help="instructions a call, by callgrind")
    parser.add_argument("--pieces", default=",".join(PIECES), help="--instructions: which (all)")
    parser.add_argument("--in-callgrind", choices=PIECES, help=argparse.SUPPRESS)  # (the child under valgrind)
    parser.add_argument("--cold", type=int, default=0, metavar="MB", help="caches chilled before each call (0)")
    args = parser.parse_args(argv)
    _COLD.extend(bytes(args.cold * 1024 * 1024))
    if args.instructions:
        counted = instructions(args.pieces.split(","), args.requests)
        print("intakeinstructions: " + " ".join(f"{k}={v}" for k, v in counted.items()) + f" calls={args.requests}")
        return 0
    with tempfile.TemporaryDirectory() as instance, throwaway_database(args.pg_url, prefix=DATABASES["ours"]) as db:
        env, token = setup_ours(args.pg_url, db.name, args.amqp_url, Path(instance))
        app = create_app(Config.from_env(env))
        engine = app.extensions["workstation"]["engine"]
        try:
            if args.in_callgrind:
                count_in_callgrind(app, token, args.in_callgrind, args.requests)
                return 0
            figures = measure(app, token, args.requests)
            figures["bare_ms"] = measure_bare(args.pg_url, db.name, args.requests)
            if args.profile:
                profile(app, token, args.requests, args.top)
        finally:
            engine.dispose()
    names = ("request_ms", "least_ms", "wall_ms", "validate_ms", "write_ms", "answer_ms", "flask_ms", "bare_ms")
    shown = " ".join(f"{name}={figures[name]:.3f}" for name in names)
    print(f"intakecost: {shown} cold_mb={args.cold} requests={args.requests}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
