"""How fast a search answers over 100,000 cases on PostgreSQL (the gram indexes of migration 0012).

    .venv/bin/python benchmarks/search.py                 # 100,000 cases, 200,000 messages, ~3 min
    .venv/bin/python benchmarks/search.py --cases 20000   # smaller
    .venv/bin/python benchmarks/search.py --explain       # also print each query's plan once
    .venv/bin/python benchmarks/search.py --export        # also time the export of every case
    .venv/bin/python benchmarks/search.py --keep          # keep the database; later --reuse <its name>

A throwaway database (``common.throwaway_database`` on 127.0.0.1:5432, migrated with the
project's migrations) is seeded with COPY: 2,000 enterprises, 300 experts, ``--cases`` cases in
Chinese made from an IP vocabulary (titles and descriptions of a few sentences, one to three
parties with credit codes, marks and registration or patent numbers), two messages a case on
average (15 % internal notes). Then ANALYZE, as autovacuum would.

Each search is what ``GET /api/v1/cases?q=`` runs (``services.search.search_page``, the first
page of 50 newest first), drawn from a mix: common two-character words (商标, 侵权... in a third
of the cases or more), rarer words, marks, a respondent's name as a quoted phrase, a credit code,
a part of a registration number, a reference, an enterprise's and an expert's name, words only a
message holds, one character, two words, and filters with words; as a coordinator (all cases), an
enterprise (its own) and an expert (theirs). ``--searches`` of them after a warm-up of the same
size. ``--export``: then the coordinator's export of every case, CSV and XLSX (seconds, size, how
much the process grew), printed as ``export: csv_s=<n> ... cases=<n>``. The last line::

    search: p50_ms=<n> p99_ms=<n> cases=<n>

Goal: p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import random
import string
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from common import Database, log, percentile, throwaway_database  # noqa: E402
from digest import copy_rows as _copy_rows  # noqa: E402
from sqlalchemy import event, text  # noqa: E402

from workstation.search_syntax import parse  # noqa: E402
from workstation.services.db import make_engine, make_session_factory  # noqa: E402
from workstation.services.exports import FORMATS, export_cases  # noqa: E402
from workstation.services.migrate import upgrade  # noqa: E402
from workstation.services.models import Case, CaseMessage, ExpertProfile, User  # noqa: E402
from workstation.services.search import index_cases, search_cases, search_page  # noqa: E402
from workstation.vocabulary import RIGHT_TYPES, SERVICES  # noqa: E402

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
NOW = datetime(2026, 11, 24, tzinfo=UTC)
STATUSES = ("assigned", "accepted", "in_progress", "opinion_issued", "closed", "closed", "closed", "submitted")

PLACES = ("陕西", "西安", "深圳", "杭州", "苏州", "成都", "广州", "宁波", "东莞", "咸阳", "宝鸡", "榆林")
TRADES = ("电子", "生物", "新材料", "机械", "软件", "食品", "医药", "光电", "化工", "农业", "智能", "通信")
SUFFIXES = ("科技有限公司", "有限公司", "股份有限公司", "贸易商行", "实业有限公司")
MARK_CHARS = "星河鼎盛华瑞祥云天泽宏远金诚博达恒信安卓越新锐光明汇丰佳美嘉禾龙腾凤翔秦川长安"
WORDS = {
    "trademark": ("商标", "仿冒", "近似", "注册商标", "网店", "假冒", "标识", "包装", "混淆"),
    "patent": ("专利", "发明", "实用新型", "权利要求", "技术方案", "外观设计", "无效宣告"),
    "copyright": ("著作权", "软件", "源代码", "复制", "信息网络传播", "作品"),
    "trade_secret": ("商业秘密", "离职", "员工", "客户名单", "保密协议", "技术信息"),
    "geographical_indication": ("地理标志", "产地", "苹果", "猕猴桃", "茶叶"),
    "other": ("不正当竞争", "虚假宣传", "域名", "商号"),
}
COMMON = ("侵权", "销售", "产品", "平台", "证据", "赔偿", "律师函", "起诉", "调查", "公证", "样品", "价格")
MESSAGE_WORDS = ("补充材料", "公证书", "购买记录", "截图", "发票", "会议纪要", "初步意见", "检索报告")
NOTE_WORDS = ("内部评估", "胜诉可能", "利益冲突核查")


def company(rng: random.Random) -> str:
    return rng.choice(PLACES) + "".join(rng.sample(MARK_CHARS, 2)) + rng.choice(TRADES) + rng.choice(SUFFIXES)


def credit_code(rng: random.Random) -> str:
    return (
        "91"
        + "".join(rng.choices(string.digits, k=6))
        + "".join(rng.choices(string.digits + "ABCDEFGHJKLMNPQRTUWXY", k=10))
    )


def sentence(rng: random.Random, words: tuple[str, ...]) -> str:
    picked = [rng.choice(words) for _ in range(rng.randint(2, 4))] + [
        rng.choice(COMMON) for _ in range(rng.randint(2, 4))
    ]
    rng.shuffle(picked)
    glue = ("的", "在", "与", "并", "对", "已", "及", "将")
    return "".join(w + rng.choice(glue) for w in picked[:-1]) + picked[-1] + "。"


def seed(url: str, n_cases: int, rng: random.Random, write: bool = True) -> dict[str, list]:
    """The database's people, cases and messages (``write=False``: only made again, as the same
    seed made them in a database kept by ``--keep``, to draw the same searches)."""
    engine = make_engine(url)
    copy_rows = _copy_rows if write else lambda *_: None
    n_enterprises, n_experts = 2000, 300
    enterprises = [
        {"id": i, "email": f"e{i}@bench.cn", "password_hash": "x", "role": "enterprise", "name": f"联系人{i}",
         "organisation": company(rng), "credit_code": credit_code(rng)}
        for i in range(1, n_enterprises + 1)
    ]  # fmt: skip
    experts = [
        {"id": i, "email": f"x{i}@bench.cn", "password_hash": "x", "role": "expert",
         "name": f"专家{i - n_enterprises:03d}",
         "organisation": rng.choice(("西北大学", "陕西某律师事务所", "知识产权研究院", ""))}
        for i in range(n_enterprises + 1, n_enterprises + n_experts + 1)
    ]  # fmt: skip
    coordinator = {"id": n_enterprises + n_experts + 1, "email": "c@bench.cn", "password_hash": "x",
                   "role": "coordinator", "name": "协调员"}  # fmt: skip
    copy_rows(engine, User.__table__, ({"language": "zh", "created_at": NOW - timedelta(days=400), "is_active": True,
                                        **u} for u in [*enterprises, *experts, coordinator]))  # fmt: skip
    copy_rows(engine, ExpertProfile.__table__, ({"user_id": e["id"], "right_types": list(RIGHT_TYPES), "capacity": 50}
                                                 for e in experts))  # fmt: skip
    marks = list({"".join(rng.sample(MARK_CHARS, rng.choice((2, 2, 3)))) for _ in range(4000)})
    seen: dict[str, list] = defaultdict(list)
    cases, messages = [], []
    for i in range(1, n_cases + 1):
        right_type = rng.choices(RIGHT_TYPES, weights=(30, 40, 12, 6, 4, 8))[0]
        words = WORDS[right_type]
        mark = rng.choice(marks)
        coded = lambda: {"credit_code": credit_code(rng)} if rng.random() < 0.6 else {}  # noqa: E731
        parties = [{"role": "respondent", "name": company(rng), **coded()}
                   for _ in range(rng.randint(1, 3))]  # fmt: skip
        number = (f"第{rng.randint(10000000, 69999999)}号" if right_type == "trademark"
                  else f"ZL{rng.randint(2010, 2025)}{rng.randint(10000000, 99999999)}.{rng.randint(0, 9)}")  # fmt: skip
        rights = [{"kind": "trademark" if right_type == "trademark" else "patent", "number": number,
                   "mark_text": mark if right_type == "trademark" else ""}]  # fmt: skip
        created = NOW - timedelta(minutes=5 * (n_cases - i))
        status = rng.choice(STATUSES)
        expert = rng.choice(experts)["id"] if status != "submitted" else None
        enterprise = rng.randint(1, n_enterprises)
        cases.append({
            "id": i, "reference": f"RPA-{created.year}-{i:06d}", "enterprise_id": enterprise,
            "right_type": right_type, "service": rng.choice(SERVICES),
            "title": f"「{mark}」{rng.choice(words)}{rng.choice(COMMON)}",
            "description": "".join(sentence(rng, words) for _ in range(rng.randint(2, 5))),
            "jurisdiction": "CN", "language": "zh", "technical_field": "other",
            "confidential": right_type == "trade_secret" or rng.random() < 0.05, "urgency": "normal",
            "parties": parties, "rights": rights, "key_dates": {}, "status": status,
            "assigned_expert_id": expert, "created_at": created, "updated_at": created,
        })  # fmt: skip
        for _ in range(rng.choice((0, 1, 2, 2, 3, 4))):
            internal = rng.random() < 0.15
            body = ("".join(rng.choice(NOTE_WORDS if internal else MESSAGE_WORDS) for _ in range(2))
                    + sentence(rng, words))  # fmt: skip
            messages.append({"case_id": i, "author_id": expert or enterprise, "kind": "note" if internal else "message",
                             "body": body, "internal": internal, "source": "web", "created_at": created})  # fmt: skip
        if i % 97 == 0:
            seen["mark"].append(mark)
            seen["party"].append(parties[0]["name"])
            seen["code"].extend(p["credit_code"] for p in parties if "credit_code" in p)
            seen["number"].append(number[2:9] if number.startswith("ZL") else number[1:9])
            seen["reference"].append(f"RPA-{created.year}-{i:06d}")
            seen["enterprise"].append(enterprise)
            if expert:
                seen["expert_case"].append(expert)
    copy_rows(engine, Case.__table__, cases)
    copy_rows(engine, CaseMessage.__table__, messages)
    if not write:
        engine.dispose()
        return _seen(seen, enterprises, experts, coordinator, messages)
    with make_session_factory(engine).begin() as session:  # the grams, as the watch worker writes them
        index_cases(session, None)
    with engine.begin() as connection:
        for table in ("users", "cases", "case_messages"):
            connection.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            )
        connection.execute(text("ANALYZE"))
    engine.dispose()
    return _seen(seen, enterprises, experts, coordinator, messages)


def _seen(seen: dict[str, list], enterprises: list, experts: list, coordinator: dict, messages: list) -> dict:
    seen["enterprises"] = enterprises
    seen["experts"] = experts
    seen["coordinator"] = [coordinator]
    seen["n_messages"] = [len(messages)]
    return seen


def searches(rng: random.Random, seen: dict[str, list], n: int) -> list[tuple[str, int, str]]:
    """(kind, user id, query text) drawn from the mix."""
    coordinator = seen["coordinator"][0]["id"]
    orgs = {e["id"]: e["organisation"] for e in seen["enterprises"]}
    names = {e["id"]: e["name"] for e in seen["experts"]}
    kinds = {
        "common word": lambda: (coordinator, rng.choice(("商标", "侵权", "专利", "销售", "证据", "产品"))),
        "rarer word": lambda: (coordinator, rng.choice(("无效宣告", "客户名单", "猕猴桃", "虚假宣传", "源代码"))),
        "mark": lambda: (coordinator, rng.choice(seen["mark"])),
        "party phrase": lambda: (coordinator, f'"{rng.choice(seen["party"])}"'),
        "credit code": lambda: (coordinator, rng.choice(seen["code"])),
        "number part": lambda: (coordinator, rng.choice(seen["number"])),
        "reference": lambda: (coordinator, rng.choice(seen["reference"])),
        "enterprise name": lambda: (coordinator, orgs[rng.choice(seen["enterprise"])]),
        "expert name": lambda: (coordinator, names[rng.choice(seen["expert_case"])]),
        "message words": lambda: (coordinator, rng.choice(("公证书", "会议纪要", "检索报告"))),
        "one character": lambda: (coordinator, rng.choice("星鼎瑞秦")),
        "two words": lambda: (coordinator, f'{rng.choice(("商标", "专利", "侵权"))} {rng.choice(("网店", "赔偿", "公证"))}'),  # noqa: E501
        "filters and words": lambda: (coordinator, rng.choice(("status:closed 商标", "type:patent 侵权 after:2026-06-01",  # noqa: E501
                                                               "status:assigned,accepted 证据", "type:trademark before:2026-03-01 仿冒"))),  # noqa: E501
        "enterprise: own cases": lambda: (rng.choice(seen["enterprise"]), rng.choice(("商标", "侵权", "内部评估", "第"))),  # noqa: E501
        "expert: own cases": lambda: (rng.choice(seen["expert_case"]), rng.choice(("商标", "专利 侵权", "status:closed"))),  # noqa: E501
    }  # fmt: skip
    names_of = list(kinds)
    out = []
    for _ in range(n):
        kind = rng.choice(names_of)
        user, q = kinds[kind]()
        out.append((kind, user, q))
    return out


def run(url: str, plan: list[tuple[str, int, str]], explain: bool) -> dict[str, list[float]]:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    timings: dict[str, list[float]] = defaultdict(list)
    explained: set[str] = set()
    statements: list[tuple[str, object]] = []
    if explain:  # each statement a search runs (a page can take two), explained afterwards
        event.listen(engine, "before_cursor_execute", lambda _c, _cur, sql, params, _ctx, _many:
                     statements.append((sql, params)))  # fmt: skip
    with factory() as session:
        users = {u.id: u for u in session.query(User).all()}
        session.expunge_all()
        for kind, user_id, q in plan:
            statements.clear()
            t0 = time.perf_counter()
            search_page(session, users[user_id], parse(q), None, 50)
            timings[kind].append((time.perf_counter() - t0) * 1000)
            session.expunge_all()
            session.rollback()
            if explain and kind not in explained:
                explained.add(kind)
                ran = list(statements)
                with engine.connect() as connection:
                    for sql, params in ran:
                        lines = connection.exec_driver_sql("EXPLAIN ANALYZE " + sql, params).scalars().all()
                        log(f"--- {kind}: {q}\n" + "\n".join(lines))
    engine.dispose()
    return timings


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def export(url: str, coordinator_id: int) -> str:
    """Every case, as the coordinator's export (``GET /api/v1/cases/export?format=csv|xlsx`` with
    no ``q``) writes it: seconds, size, and how much the process grew while writing it."""
    engine = make_engine(url)
    factory = make_session_factory(engine)
    figures = []
    for fmt in FORMATS:
        with factory() as session:
            coordinator = session.get(User, coordinator_id)
            t0, start = time.perf_counter(), _rss_mb()
            every = search_cases(session, coordinator, parse(""))
            pieces = export_cases(session, factory, coordinator, every, fmt, "zh")
            session.commit()
            size, grown = 0, 0.0
            for piece in pieces:
                size += len(piece)
                grown = max(grown, _rss_mb() - start)
            seconds = time.perf_counter() - t0
        log(f"export {fmt}: {seconds:.1f} s, {size / 1e6:.1f} MB, the process grew {grown:.0f} MB")
        figures.append(f"{fmt}_s={seconds:.1f} {fmt}_mb={size / 1e6:.1f} {fmt}_grown_mb={grown:.0f}")
    engine.dispose()
    return " ".join(figures)


@contextmanager
def _database(args: argparse.Namespace) -> Iterator[Database]:
    if args.reuse:
        yield Database(args.reuse, f"{args.server.rsplit('/', 1)[0]}/{args.reuse}")
        return
    with throwaway_database(args.server, prefix="rpa_bench_search", keep=args.keep) as database:
        yield database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--searches", type=int, default=600)
    parser.add_argument("--seed", type=int, default=20261208)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--export", action="store_true", help="also time the export of every case (CSV, XLSX)")
    parser.add_argument("--server", default=SERVER)
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is logged)")
    parser.add_argument("--reuse", metavar="NAME", help="a database kept by --keep (same --cases and --seed): "
                        "migrated to the newest revision, not seeded again, kept")  # fmt: skip
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with _database(args) as database:
        log(f"database {database.name}: migrating and seeding {args.cases:,} cases")
        t0 = time.perf_counter()
        upgrade(database.url)
        seen = seed(database.url, args.cases, rng, write=not args.reuse)
        if args.reuse:  # (a migration may have rewritten rows)
            with make_engine(database.url).begin() as connection:
                connection.execute(text("ANALYZE"))
        log(f"seeded {args.cases:,} cases, {seen['n_messages'][0]:,} messages in {time.perf_counter() - t0:.0f} s")
        engine = make_engine(database.url)
        with engine.connect() as connection:
            sizes = connection.execute(text(
                "SELECT relname, pg_size_pretty(pg_relation_size(oid)) FROM pg_class"
                " WHERE relname IN ('cases', 'case_messages', 'ix_case_grams_grams', 'ix_case_messages_search')"
            )).all()  # fmt: skip
        engine.dispose()
        log("sizes: " + ", ".join(f"{name} {size}" for name, size in sizes))
        plan = searches(rng, seen, args.searches)
        run(database.url, plan, args.explain)  # warm-up (and plans)
        timings = run(database.url, plan, False)
        exported = export(database.url, seen["coordinator"][0]["id"]) if args.export else ""
    every = [t for values in timings.values() for t in values]
    for kind, values in sorted(timings.items(), key=lambda kv: -percentile(kv[1], 99)):
        log(f"{kind:24} n={len(values):4d} p50={percentile(values, 50):7.1f} ms p99={percentile(values, 99):7.1f} ms")
    if exported:
        print(f"export: {exported} cases={args.cases}")
    print(f"search: p50_ms={percentile(every, 50):.1f} p99_ms={percentile(every, 99):.1f} cases={args.cases}")


if __name__ == "__main__":
    main()
