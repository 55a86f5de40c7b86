"""CPU of the notify worker's emails and of the relay's publications, in process (issue 21 item 5).

```
.venv/bin/python benchmarks/notifycost.py [--cases 2000] [--messages 5000] [--no-relay]
```

**Mail**: the two emails a case's assignment causes (the expert's ``expert_case_assigned`` in
Chinese, the enterprise's ``enterprise_case_assigned`` in English, both answerable), rendered
(``render_email`` + ``about_case``) and sent with ``SmtpSender`` over its kept connection to an
aiosmtpd sink in a process of its own (so its CPU is not counted). Prints CPU ms per case of each
step (``time.process_time``: this process only).

**Relay**: the relay's events (the routing keys and payloads of ``case.submitted`` /
``case.assigned``) published to a RabbitMQ virtual host of its own with publisher confirms: as the
relay did before (kombu's producer on a ``confirm_publish`` connection, each publish waiting for
its confirm), and with ``Publisher.publish_batch`` in rounds of ``--round`` messages (the relay's
rounds under load hold a few to a few dozen), their confirms waited for together. Prints CPU ms
per message (this process; the broker's is not counted).

Last lines ``notifycost: render_ms=… send_ms=… case_ms=…`` and
``relaycost: one_ms=… batch_ms=… round=…``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import free_port  # noqa: E402
from soak import port_open, prepare_vhost, rabbitmqctl  # noqa: E402

from workstation.config import Config  # noqa: E402
from workstation.services.mail import SmtpSender, about_case, address, render_email  # noqa: E402


class Enterprise:
    id, name, email, language = 11, "深圳某某科技有限公司", "legal@example.cn", "en"


class Expert:
    id, name, email, language = 12, "王工", "wang@example.cn", "zh"


class Case:
    id, reference, title = 42, "RPA-2026-000042", "商标侵权：某某 v. 某某网店"
    right_type, service, enterprise = "trademark", "compensation_estimate", Enterprise


def case_emails(config: Config, number: int) -> list:
    """The two emails of one case's assignment, as ``workers.notify.handle_many`` builds them."""
    emails = []
    for recipient, template, extra in ((Expert, "expert_case_assigned", {}),
                                       (Enterprise, "enterprise_case_assigned", {"expert": Expert})):  # fmt: skip
        key = f"{number}:{recipient.id}:{template}"
        to = address(recipient.name, recipient.email)
        message = render_email(
            template, recipient.language, to, config, key, replyable=True, case=Case, recipient=recipient, **extra
        )
        emails.append((about_case(message, config, Case.reference, recipient.id), key))
    return emails


def mail_cost(config: Config, cases: int) -> tuple[float, float]:
    """CPU ms per case: rendering its two emails, and sending them."""
    port = free_port()
    sink = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink", "-l", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not port_open(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        sender = SmtpSender(f"smtp://127.0.0.1:{port}")
        for number in range(50):  # warm-up: templates compiled, connection open
            for message, key in case_emails(config, number):
                sender.send(message, key)
        render = send = 0.0
        for number in range(cases):
            t0 = time.process_time()
            emails = case_emails(config, number)
            t1 = time.process_time()
            for message, key in emails:
                sender.send(message, key)
            render += t1 - t0
            send += time.process_time() - t1
        sender.close()
    finally:
        sink.terminate()
        sink.wait()
    return 1000 * render / cases, 1000 * send / cases


def relay_cost(amqp_url: str, messages: int, per_round: int) -> tuple[float, float]:
    """CPU ms per message published with its confirm: one at a time, and in rounds."""
    from workstation.services.messaging import EVENTS, Publisher, broker_connection, declare_topology

    vhost = f"rpa_notifycost_{os.getpid()}"
    prepare_vhost(vhost)
    try:
        url = urlunsplit(urlsplit(amqp_url)._replace(path="/" + vhost))
        config = Config.from_env({"WORKSTATION_BROKER_URL": url, "WORKSTATION_INSTANCE_PATH": "/tmp/rpa-notifycost"})
        payloads = [
            ("case.submitted", {"case_id": 1000 + i, "enterprise_id": 7}) if i % 2 else
            ("case.assigned", {"case_id": 1000 + i, "expert_id": 12, "previous_expert_id": None})
            for i in range(messages)
        ]  # fmt: skip
        # Before: kombu's producer on a connection whose every publish waits for its confirm
        # (``confirm_publish``), one message at a time, as the relay published until this change.
        with broker_connection(config) as connection:
            declare_topology(connection, config)
            producer = connection.Producer(serializer="json")
            t0 = time.process_time()
            for i, (key, body) in enumerate(payloads):
                producer.publish(body, exchange=EVENTS, routing_key=key, message_id=str(i + 1), type=key,
                                 delivery_mode=2, headers={}, retry=False)  # fmt: skip
            one = time.process_time() - t0
        publisher = Publisher(config)
        publisher.publish({"warm": 1}, "case.submitted", 0)
        t0 = time.process_time()
        for start in range(0, messages, per_round):
            chunk = payloads[start : start + per_round]
            confirmed: list[int] = []
            publisher.publish_batch([(body, key, start + i + 1) for i, (key, body) in enumerate(chunk)], confirmed)
            assert len(confirmed) == len(chunk)
        batch = time.process_time() - t0
        publisher.close()
    finally:
        rabbitmqctl("delete_vhost", vhost, check=False)
    return 1000 * one / messages, 1000 * batch / messages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--round", type=int, default=10, help="messages per relay round (10)")
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--no-relay", action="store_true")
    args = parser.parse_args()
    config = Config.from_env({"WORKSTATION_INSTANCE_PATH": "/tmp/rpa-notifycost"})
    render, send = mail_cost(config, args.cases)
    print(f"mail: {args.cases} cases, CPU ms per case: render {render:.3f}, send {send:.3f}")
    print(f"notifycost: render_ms={render:.3f} send_ms={send:.3f} case_ms={render + send:.3f}")
    if not args.no_relay:
        one, batch = relay_cost(args.amqp_url, args.messages, args.round)
        print(f"relay: {args.messages} messages, CPU ms per message: one by one {one:.3f}, in rounds {batch:.3f}")
        print(f"relaycost: one_ms={one:.3f} batch_ms={batch:.3f} round={args.round}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
