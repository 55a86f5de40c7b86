"""Routing quality and speed: the online greedy routing against the offline optimum.

    .venv/bin/python benchmarks/routing.py [--experts 500] [--cases 10000] [--history 2000]
                                           [--reprice 500] [--seed 7]

Generates a realistic expert pool and a stream of cases, routes the cases one by one with
``workstation.routing.choose_expert`` (the function the routing worker calls; cases stay active,
so loads only grow), and prints:

- the greedy assignment's total quality as a percentage of the optimal offline assignment,
  computed in the same run by ``scipy.optimize.linear_sum_assignment`` over the same eligibility
  and capacities (each expert expanded into one column per unit of capacity). Quality of a pair is
  the load-independent part of the score: competence for the service plus technical-field match;
- conflicts of interest assigned and experts over capacity (both must be 0), checked
  independently of the routing code's own filters;
- load imbalance: max / mean active cases among experts who took any;
- p50 / p99 time of one routing decision (``scarcity`` is computed outside it, and its time
  printed separately).

The chooser is given each expert's opportunity cost, ``workstation.routing.scarcity``, computed
before the first case and again every ``--reprice`` cases, as the scheduler's ``price-the-pool``
job re-prices the pool every 10 minutes, from the pool (with its current loads) and the recent
cases: the last ``--history`` cases known at that point -- at first ``--history`` cases from the
same generator but an independent random stream, then more and more the cases already routed.
The router knows the case *mix*, never the cases still to come (``--history 0``: no prices, the
chooser as it was before them). No case closes in this run, so what competes for the slots still
free is the rest of the run: the prices are fitted with ``to_come`` = the number of cases still to
come (a worker in a steady state prices every slot against the cases active at once instead). That
number is the volume only, which the optimum knows too, and the one figure the router is told about
the run. The prices are read back as the worker reads them (the positive ones, or none).

The last line is machine-readable:
``routing: vs_optimal_pct=<n> conflicts=<n> over_capacity=<n> imbalance=<ratio> decision_p99_ms=<n>``
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workstation.routing import (  # noqa: E402
    WEIGHTS,
    CaseFacts,
    ExpertFacts,
    Organisation,
    choose_expert,
    normalise_name,
    scarcity,
    score_terms,
    why_not,
)
from workstation.vocabulary import RIGHT_TYPES, SERVICES, TECHNICAL_FIELDS  # noqa: E402

TODAY = date(2026, 11, 24)
JURISDICTIONS = ["CN"] * 8 + ["US", "EU", "JP", "KR", "SG", "RU"]


def company(rng: random.Random, i: int) -> Organisation:
    return Organisation(frozenset({f"陕西第{i}科技有限公司", f"Shaanxi No.{i} Technology Co., Ltd."}), f"9161{i:014d}")


def make_pool(rng: random.Random, n: int, companies: int) -> list[ExpertFacts]:
    experts = []
    for i in range(1, n + 1):
        rights = frozenset(rng.sample(RIGHT_TYPES, rng.randint(1, 3)))
        experts.append(
            ExpertFacts(
                id=i,
                right_types=rights,
                capacity=rng.randint(12, 28),
                active_cases=0,
                services=frozenset(rng.sample(SERVICES, rng.randint(2, 5))),
                jurisdictions=frozenset({"CN"} | set(rng.sample(JURISDICTIONS, rng.randint(0, 2)))),
                languages=frozenset(rng.choice([{"zh"}, {"zh"}, {"zh", "en"}])),
                technical_fields=frozenset(rng.sample(TECHNICAL_FIELDS, rng.randint(1, 2))),
                competence={d: rng.randint(0, 3) for d in ("legal", "technical", "management", "commercialization")},
                on_leave_until=date(2026, 12, 31) if rng.random() < 0.03 else None,
                # a quarter work for an enterprise of the park: conflicts to avoid
                organisation=company(rng, rng.randrange(companies)) if rng.random() < 0.25 else Organisation(),
                confidential_ok=rng.random() < 0.4,
                is_trainee=rng.random() < 0.05,
            )
        )
    return experts


def make_cases(rng: random.Random, n: int, companies: int) -> list[CaseFacts]:
    cases = []
    for _ in range(n):
        right = rng.choices(RIGHT_TYPES, weights=[30, 35, 15, 8, 4, 8])[0]
        cases.append(
            CaseFacts(
                right_type=right,
                service=rng.choice(SERVICES),
                jurisdiction=rng.choice(JURISDICTIONS),
                languages=frozenset(rng.choice([{"zh"}, {"zh"}, {"zh"}, {"en"}, {"zh", "en"}])),
                technical_field=rng.choice(TECHNICAL_FIELDS),
                confidential=right == "trade_secret" or rng.random() < 0.05,
                urgency=rng.choice(["low", "normal", "normal", "high"]),
                applicant=company(rng, rng.randrange(companies)),
                parties=(company(rng, rng.randrange(companies)),),
            )
        )
    return cases


def quality(case: CaseFacts, expert: ExpertFacts) -> float:
    """The load-independent part of the score, the same for the greedy and the optimal run."""
    terms = score_terms(case, expert)
    return WEIGHTS["competence"] * terms["competence"] + WEIGHTS["field"] * terms["field"]


def conflicted(case: CaseFacts, expert: ExpertFacts) -> bool:
    """An independent check of the conflict rule: same credit code or same normalised name."""
    mine = {normalise_name(n) for n in expert.organisation.names}
    for org in (case.applicant, *case.parties):
        if expert.organisation.credit_code and org.credit_code == expert.organisation.credit_code:
            return True
        if mine & {normalise_name(n) for n in org.names}:
            return True
    return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experts", type=int, default=500)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--history", type=int, default=2000, help="earlier cases the prices are fitted to")
    parser.add_argument("--reprice", type=int, default=500, help="re-price the pool every N cases (0: once)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    companies = 2000
    pool = make_pool(rng, args.experts, companies)
    cases = make_cases(rng, args.cases, companies)
    print(f"pool: {len(pool)} experts, capacity {sum(e.capacity for e in pool)}; cases: {len(cases)}")

    # the recent case mix the worker prices the pool with: an independent stream at first, then
    # the last --history cases known when pricing (the earlier stream's tail and the cases routed)
    history = make_cases(random.Random(args.seed + 1_000_000), args.history, companies)
    loads = {e.id: 0 for e in pool}
    by_id = {e.id: e for e in pool}
    assigned: list[tuple[int, int]] = []
    timings: list[float] = []
    pricings: list[float] = []
    prices: dict[int, float] | None = None
    for index, case in enumerate(cases):
        current = [replace(e, active_cases=loads[e.id]) for e in pool]
        if history and index % (args.reprice or len(cases)) == 0:
            recent = (history + cases[:index])[-len(history) :]
            t0 = time.perf_counter()
            # the free slots against the cases still to come: nothing closes during the run
            fitted = scarcity(current, recent, TODAY, to_come=len(cases) - index)
            pricings.append(time.perf_counter() - t0)
            # as the worker reads them back (``candidate_experts``): the positive ones, or None
            prices = {i: p for i, p in fitted.items() if p > 0} or None
            if index == 0:
                contested = sorted((prices or {}).values())
                median = contested[len(contested) // 2] if contested else 0.0
                print(
                    f"scarcity: fitted to {len(recent)} earlier cases in {pricings[0]:.1f} s; "
                    f"{len(contested)} of {len(pool)} experts contested, median price {median:.2f}"
                )
        t0 = time.perf_counter()
        decision = choose_expert(case, current, TODAY, prices)
        timings.append((time.perf_counter() - t0) * 1000)
        if decision.expert_id is not None:
            loads[decision.expert_id] += 1
            assigned.append((index, decision.expert_id))
    greedy_total = sum(quality(cases[i], by_id[e]) for i, e in assigned)
    conflicts = sum(conflicted(cases[i], by_id[e]) for i, e in assigned)
    over_capacity = sum(loads[e.id] > e.capacity for e in pool)
    busy = [n for n in loads.values() if n]
    imbalance = max(busy) / statistics.mean(busy) if busy else 0.0

    # offline optimum over the same eligibility (with nobody loaded) and the same capacities
    t0 = time.perf_counter()
    columns = [e for e in pool for _ in range(e.capacity)]
    eligible = np.zeros((len(cases), len(pool)), dtype=bool)
    value = np.zeros((len(cases), len(pool)))
    for i, case in enumerate(cases):
        for j, expert in enumerate(pool):
            if why_not(case, expert, TODAY) is None:
                eligible[i, j] = True
                value[i, j] = quality(case, expert)
    column_expert = np.repeat(np.arange(len(pool)), [e.capacity for e in pool])
    feasible = eligible[:, column_expert]
    benefit = np.where(feasible, value[:, column_expert], 0.0)
    # Unconstrained: the best total quality, even if that leaves cases unserved whose eligible
    # experts still have room (slots kept for better-matched cases that come later).
    rows, cols = linear_sum_assignment(benefit, maximize=True)
    unconstrained_total = float(benefit[rows, cols].sum())
    # Serving first: the best total quality among assignments that serve as many cases as can be
    # served. This is the rule the workstation works under (a case is never left waiting while an
    # eligible expert has room), so it is the optimum the router is measured against. A bonus
    # larger than any total quality difference on each feasible pair makes the solver maximise
    # the number served first.
    serve_bonus = float(value.max() * len(cases) + 1)
    rows, cols = linear_sum_assignment(np.where(feasible, benefit + serve_bonus, 0.0), maximize=True)
    served = feasible[rows, cols]
    optimal_total = float(benefit[rows, cols][served].sum())
    optimal_served = int(served.sum())
    optimal_seconds = time.perf_counter() - t0

    vs_optimal = 100 * greedy_total / optimal_total if optimal_total else 100.0
    vs_unconstrained = 100 * greedy_total / unconstrained_total if unconstrained_total else 100.0
    timings.sort()
    p50, p99 = timings[len(timings) // 2], timings[int(len(timings) * 0.99)]
    print(f"greedy:  {len(assigned)} of {len(cases)} cases assigned, total quality {greedy_total:.1f}")
    print(
        f"optimal, serving first: {optimal_served} cases assigned, total quality {optimal_total:.1f} "
        f"({len(columns)} capacity slots, both optima solved in {optimal_seconds:.1f} s)"
    )
    print(f"optimal, quality only: total quality {unconstrained_total:.1f} (may leave servable cases unassigned)")
    print(
        f"greedy / optimal serving first: {vs_optimal:.1f} %; greedy / quality-only optimum: {vs_unconstrained:.1f} %"
    )
    print(f"conflicts of interest assigned: {conflicts}; experts over capacity: {over_capacity}")
    print(f"load imbalance (max / mean among experts with cases): {imbalance:.2f}")
    print(f"decision time: p50 {p50:.2f} ms, p99 {p99:.2f} ms (over {len(pool)} experts)")
    if pricings:
        print(f"pricing: {len(pricings)} times, {statistics.mean(pricings):.1f} s each (outside the decisions)")
    print(
        f"routing: vs_optimal_pct={vs_optimal:.1f} conflicts={conflicts} over_capacity={over_capacity} "
        f"imbalance={imbalance:.2f} decision_p99_ms={p99:.2f} vs_quality_only_pct={vs_unconstrained:.1f}"
    )


if __name__ == "__main__":
    main()
