"""The routing consumer: assign experts to cases, and keep the pool's changes in step.

- ``case.submitted`` / ``case.declined`` / ``case.reopened``: assign an expert (and a trainee
  shadow) or escalate to the coordinators;
- ``case.classified``: a coordinator set the case's right type and service: route it again with
  the new facts (``route_classified``);
- ``expert.unavailable``: re-route the cases that expert had not accepted yet;
- ``experts.import_requested``: import a coordinator's CSV of experts (``workstation.services.pool``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session, joinedload, sessionmaker

from workers.delivery import (
    Context,
    Delivery,
    PermanentError,
    claim_deliveries,
    claim_message,
    is_handled,
    mark_handled,
    payload_id,
)
from workstation import lifecycle
from workstation.routing import (
    PRICING_SAMPLE,
    ExpertFacts,
    Organisation,
    choose_expert,
    choose_shadow,
    fits_kind,
    pile_order,
    price_pool,
    prices_as_read,
)
from workstation.services.cases import (
    ACTED_FOR,
    BATCH_ACTED_FOR,
    ExpertFullError,
    case_facts,
    declined_by,
    party_keys,
    transition,
    transitions_written_together,
)
from workstation.services.classification import CLASSIFIED
from workstation.services.db import lock_for_write
from workstation.services.models import Case, ExpertProfile, User, utcnow
from workstation.services.pool import run_import

CONSUMER = "routing"
#: The case events routing assigns an expert for (its other events are the pool's).
CASE_EVENTS = ("case.submitted", "case.declined", "case.reopened", CLASSIFIED)
#: The statuses of a case waiting to be routed.
TO_ROUTE = (lifecycle.SUBMITTED, lifecycle.DECLINED, lifecycle.REOPENED)
#: After this many declines a case goes to the coordinators instead of another expert.
MAX_DECLINES = 3


def candidate_experts(session: Session) -> tuple[list[ExpertFacts], dict[int, float] | None]:
    """Every active expert's routing facts, and the prices of their capacity (None: not priced
    yet, or nothing is scarce; the chooser then weighs load balance instead)."""
    # Plain columns, not ORM objects: this runs for every case routed.
    p = ExpertProfile
    rows = session.execute(
        select(
            p.user_id,
            p.right_types,
            p.capacity,
            p.active_cases,
            p.available,
            p.services,
            p.jurisdictions,
            p.languages,
            p.technical_fields,
            p.competence,
            p.on_leave_until,
            p.confidential_ok,
            p.is_trainee,
            p.supervisor_id,
            p.scarcity,
            User.organisation,
            User.credit_code,
        )  # fmt: skip
        .join(User, User.id == p.user_id)
        .where(User.is_active.is_(True))
        # in a stable order: PostgreSQL returns rows the pricing job just updated elsewhere in the
        # heap, and price_pool's memory of each kind's eligible experts holds only for the same pool
        .order_by(p.user_id)
    )
    rows = rows.all()
    experts = [ExpertFacts.of_profile(r, Organisation.of(r.organisation, r.credit_code)) for r in rows]
    return experts, prices_as_read({r.user_id: r.scarcity for r in rows})


# ``with_history``'s query of trainees' load, built once: the routing worker runs it for every
# case, and building a statement cost about as much as running it.
_SHADOWING = (
    select(Case.shadow_expert_id, func.count())
    .where(
        Case.shadow_expert_id.is_not(None),
        Case.status.in_(lifecycle.ACTIVE_FOR_EXPERT),
        Case.id.not_in(bindparam("routed", expanding=True)),
    )
    .group_by(Case.shadow_expert_id)
)


def with_history(session: Session, case: Case, pool: Pool) -> list[ExpertFacts]:
    """The pool's experts with what its columns do not hold: the parties of this case each expert
    has acted for in earlier cases, and trainees' load (the cases they shadow).

    The cases routed earlier in this transaction (and the rest of the batch, when the pool read
    the batch's history beforehand: ``Pool.read_history``) are taken as they are now in memory,
    the rest as the database has them: in a batch (``transitions_written_together``) nothing is
    flushed before the end, so a query would still see those cases as they were."""
    codes, keys = party_keys(case)
    in_memory = pool.batch if case.id in pool.batch else pool.routed
    routed = [c for c in in_memory.values() if c.id != case.id]
    acted: dict[int, list[Organisation]] = {}
    if codes or keys:
        if in_memory is pool.batch:
            history = [(e, name, code) for e, name, code, key in pool.history if code in codes or key in keys]
        else:
            rows = session.execute(
                ACTED_FOR, {"case_id": case.id, "routed": list(pool.routed), "codes": list(codes), "keys": list(keys)}
            )
            history = list(rows)
        for c in routed:
            party = c.enterprise
            if c.assigned_expert_id is not None and (party.credit_code in codes or party.organisation_key in keys):
                history.append((c.assigned_expert_id, party.organisation, party.credit_code))
        for expert_id, name, code in history:
            acted.setdefault(expert_id, []).append(Organisation.of(name, code))
    shadowing: dict[int, int] = {}
    if any(e.is_trainee for e in pool.experts):
        shadowing = dict(session.execute(_SHADOWING, {"routed": list(pool.routed)}).all())
        for c in routed:
            if c.shadow_expert_id is not None and c.status in lifecycle.ACTIVE_FOR_EXPERT:
                shadowing[c.shadow_expert_id] = shadowing.get(c.shadow_expert_id, 0) + 1
    return [
        replace(
            e,
            acted_for=tuple(acted.get(e.id, ())),
            active_cases=shadowing.get(e.id, 0) if e.is_trainee else e.active_cases,
        )
        if e.id in acted or e.is_trainee
        else e
        for e in pool.experts
    ]


@dataclass
class Pool:
    """The candidate experts as read for one transaction, kept in step with the slots it takes
    and the cases it routes: a batch of cases reads the pool once, and still spreads its cases by
    load and sees the conflicts and trainee load its earlier cases made."""

    experts: list[ExpertFacts]
    prices: dict[int, float] | None
    #: the cases routed with this pool so far (by id): ``with_history`` takes them from memory
    routed: dict[int, Case] = field(default_factory=dict)
    #: a batch's cases, whose history was read at once (``read_history``), and that history:
    #: (expert, organisation, credit code, its key) of the other cases' enterprises
    batch: dict[int, Case] = field(default_factory=dict)
    history: list[tuple[int, str | None, str | None, str | None]] = field(default_factory=list)

    @classmethod
    def read(cls, session: Session) -> Pool:
        return cls(*candidate_experts(session))

    def read_history(self, session: Session, cases: list[Case]) -> None:
        """Read, in one query, the earlier experts of every party the ``cases`` of a batch name
        (a query per case was a tenth of routing's CPU); ``with_history`` then takes the batch's
        own cases from memory."""
        codes, keys = set(), set()
        for case in cases:
            case_codes, case_keys = party_keys(case)
            codes |= case_codes
            keys |= case_keys
        self.batch = {case.id: case for case in cases}
        if codes or keys:
            asked = {"batch": list(self.batch), "codes": list(codes), "keys": list(keys)}
            self.history = [tuple(row) for row in session.execute(BATCH_ACTED_FOR, asked)]

    def set_load(self, expert_id: int, active_cases: Callable[[ExpertFacts], int]) -> None:
        self.experts = [replace(e, active_cases=active_cases(e)) if e.id == expert_id else e for e in self.experts]


def assign_expert(
    session: Session,
    case: Case,
    action: str = "assign",
    today: date | None = None,
    pool: Pool | None = None,
    because: str | None = None,
) -> None:
    """Assign ``case`` to the chosen expert (``action``: assign, or reroute from an expert who
    became unavailable), or escalate it to the coordinators. A trainee may be attached as shadow.
    ``pool``: the candidates already read in this transaction (read now when None); ``because``:
    why it is routed again, kept in the event (``timeline`` words it).

    Taking the expert's slot is a conditional update (see ``cases._move_load``): if a routing
    worker beside this one took the last slot first, that expert counts as full and the choice is
    made again, so nobody is ever pushed over capacity.
    """
    # (a case waiting for an expert, or passed on after a classification, may have been declined before)
    again = case.status in (lifecycle.DECLINED, lifecycle.AWAITING_EXPERT) or because is not None
    declined = declined_by(session, case.id) if again else set()
    if case.status == lifecycle.DECLINED and len(declined) >= MAX_DECLINES:
        transition(session, case, "escalate", detail={"reasons": [f"declined by {len(declined)} experts"]})
        return
    today = today or date.today()
    facts = case_facts(case, declined)
    pool = pool or Pool.read(session)
    while True:
        experts = with_history(session, case, pool)
        decision = choose_expert(facts, experts, today, pool.prices)
        if decision.expert_id is None and case.status == lifecycle.AWAITING_EXPERT:
            return  # still nobody (looked at again after a classification): it stays with the coordinators
        if decision.expert_id is None:
            case.shadow_expert_id = None
            transition(session, case, "escalate", detail={"reasons": decision.reasons})
            pool.routed[case.id] = case
            return
        assignee = next(e for e in experts if e.id == decision.expert_id)
        shadow = choose_shadow(facts, assignee, experts, today)
        detail: dict[str, Any] = {"reasons": decision.reasons, **({"because": because} if because else {})}
        if shadow is not None:
            detail["shadow_expert_id"] = shadow
        try:
            transition(session, case, action, expert_id=decision.expert_id, detail=detail)
        except ExpertFullError:
            pool.set_load(decision.expert_id, lambda e: e.capacity)
            continue
        pool.set_load(decision.expert_id, lambda e: e.active_cases + 1)
        case.shadow_expert_id = shadow
        pool.routed[case.id] = case
        return


def route_classified(session: Session, case: Case, previous: Any, pool: Pool, today: date | None = None) -> None:
    """Route ``case`` again after a coordinator set its right type and service (``previous``:
    the facts before, from the ``case.classified`` event), as its status calls for:

    - submitted, declined, reopened: routed as any such case, with the new facts (whichever of
      this event and the one that put it there comes first routes it; the other finds it routed);
    - awaiting_expert: nobody could take it as it was; if someone eligible can now, they get it,
      otherwise it stays with the coordinators;
    - held by an expert (assigned, accepted, in progress, awaiting the applicant): they keep it
      while ``routing.KIND_RULES`` let them hold it (they handle its new right type and service,
      and are cleared if it became confidential), and also if those rules did not let them hold
      it as it was either (a coordinator placed them by hand, which stands). Otherwise routing
      passes it to an eligible expert, who must accept it like any case just given to them (the
      thread so far stays with the case), or to the coordinators when nobody is eligible;
    - opinion issued, closed, withdrawn: nothing (a case is classified before its opinion; a
      stale event changes nothing).
    """
    if case.status in (*TO_ROUTE, lifecycle.AWAITING_EXPERT):
        assign_expert(session, case, today=today, pool=pool)
        return
    if case.status not in lifecycle.ACTIVE_FOR_EXPERT:
        return
    holder = next((e for e in pool.experts if e.id == case.assigned_expert_id), None)
    if holder is None:
        return  # (not an active expert any more: the pool's own events re-route their cases)
    now = case_facts(case, set())
    was = previous if isinstance(previous, dict) else {}
    before = replace(
        now,
        right_type=was["right_type"] if isinstance(was.get("right_type"), str) else now.right_type,
        service=was["service"] if isinstance(was.get("service"), str) else now.service,
        confidential=was["confidential"] if isinstance(was.get("confidential"), bool) else now.confidential,
    )
    if fits_kind(now, holder, today) or not fits_kind(before, holder, today):
        return
    assign_expert(session, case, action="reroute", today=today, pool=pool, because=CLASSIFIED)


def price_the_pool(sessions: sessionmaker[Session], today: date | None = None) -> int:
    """Refresh each expert's ``scarcity`` price from the pool and the recent case mix (a job of
    the scheduler, every ``PRICING_INTERVAL_S``: it takes up to a second on a large pool, so not
    a pricing per case). What it computes is ``routing.price_pool``, from every expert, the latest
    cases and how many were submitted in the last 7 days (the arrival rate it prices for), which
    ``benchmarks/routing.py`` calls the same way (``tests/test_pool.py`` checks that both pass the
    same arguments)."""
    today = today or date.today()
    with sessions() as session:
        experts, _ = candidate_experts(session)
        recent = session.scalars(
            select(Case).options(joinedload(Case.enterprise)).order_by(Case.id.desc()).limit(PRICING_SAMPLE)
        ).all()
        demand = [case_facts(case, set()) for case in recent]
        week = session.scalar(select(func.count(Case.id)).where(Case.created_at >= utcnow() - timedelta(days=7)))
    prices = price_pool(experts, demand, today, week)
    with sessions.begin() as session:
        for expert_id, price in prices.items():
            session.execute(
                update(ExpertProfile)
                .where(ExpertProfile.user_id == expert_id, ExpertProfile.scarcity != price)
                .values(scarcity=price)
            )
    return sum(1 for p in prices.values() if p > 0)


#: The most waiting cases ``route_the_pile`` routes again in one run (oldest first).
PILE_BATCH = 200


def route_the_pile(sessions: sessionmaker[Session], today: date | None = None) -> int:
    """Route again the cases waiting for an expert (``awaiting_expert``) that someone eligible now
    has room for (a job of the scheduler, every ``PRICING_INTERVAL_S``, after a surge has filled
    the experts a case needs): best served first (``routing.pile_order``), each with
    ``assign_expert``; returns how many were assigned. A case the coordinators got after
    ``MAX_DECLINES`` declines stays theirs, and one nobody can take yet stays in the pile.
    ``benchmarks/routing.py`` routes its pile in the same order."""
    today = today or date.today()
    with sessions() as session:
        lock_for_write(session)
        # locked as the routing worker locks its batches (id order, FOR NO KEY UPDATE); a case a
        # worker holds now is skipped: that worker is routing it
        waiting = session.scalars(
            select(Case)
            .options(joinedload(Case.enterprise))
            .where(Case.status == lifecycle.AWAITING_EXPERT)
            .order_by(Case.id)
            .limit(PILE_BATCH)
            .with_for_update(of=Case, key_share=True, skip_locked=True)
        ).all()
        declines = {case.id: declined_by(session, case.id) for case in waiting}
        cases = [case for case in waiting if len(declines[case.id]) < MAX_DECLINES]
        if not cases:
            return 0
        pool = Pool.read(session)
        pool.read_history(session, cases)
        pile = [(case_facts(case, declines[case.id]), with_history(session, case, pool)) for case in cases]
        with transitions_written_together(session):
            for k in pile_order(pile, today, pool.prices):
                assign_expert(session, cases[k], today=today, pool=pool)
        assigned = sum(case.status == lifecycle.ASSIGNED for case in cases)
        session.commit()
    return assigned


def reroute_cases_of(session: Session, expert_id: int, today: date | None = None) -> int:
    """Re-route the cases ``expert_id`` has not accepted yet (they went on leave or left)."""
    cases = session.scalars(
        select(Case)
        .where(Case.assigned_expert_id == expert_id, Case.status == lifecycle.ASSIGNED)
        .order_by(Case.id)
        .with_for_update()
    ).all()
    pool = Pool.read(session)
    for case in cases:
        assign_expert(session, case, action="reroute", today=today, pool=pool)
    return len(cases)


def handle(ctx: Context, message_id: int, event_type: str, payload: dict[str, Any]) -> None:
    if event_type == "expert.unavailable":
        return _handle_unavailable(ctx, message_id, payload)
    if event_type == "experts.import_requested":
        return _handle_import(ctx, message_id, payload)
    return handle_many(ctx, [Delivery(message_id, event_type, payload)])


#: The most messages handled in one transaction (``workers.consumer``).
MAX_BATCH = 32

#: The events ``handle_many`` takes several at a time.
BATCHED_EVENTS = frozenset(CASE_EVENTS)


def handle_many(ctx: Context, deliveries: list[Delivery]) -> None:
    """Route the cases of several case events in one transaction, reading the pool once."""
    for d in deliveries:
        if d.event_type not in CASE_EVENTS:
            # Not "route this case": a stray event must not assign anyone.
            raise PermanentError(f"routing has nothing to do for {d.event_type!r}")
        if payload_id(d.payload, "case_id") is None:
            raise PermanentError("payload has no integer case_id")
    with ctx.sessions() as session:
        lock_for_write(session)
        mine = claim_deliveries(session, CONSUMER, deliveries)
        case_ids = {payload_id(d.payload, "case_id") for d in mine}
        # (the enterprise with it: its organisation is checked for conflicts of interest; locked
        # in id order, so that two workers with overlapping batches cannot deadlock on them;
        # FOR NO KEY UPDATE, not FOR UPDATE: it keeps other changes of the cases out all the
        # same, but not the rows that refer to them, such as the watch worker's search grams,
        # whose foreign-key checks waited for the whole batch)
        cases = {
            case.id: case
            for case in session.scalars(
                select(Case)
                .options(joinedload(Case.enterprise))
                .where(Case.id.in_(case_ids))
                .order_by(Case.id)
                .with_for_update(of=Case, key_share=True)
            )
        }
        pool = Pool.read(session) if mine else None
        if pool is not None:
            pool.read_history(session, list(cases.values()))
        with transitions_written_together(session):
            for d in mine:
                case = cases.get(payload_id(d.payload, "case_id"))  # type: ignore[arg-type]
                if case is None:
                    raise PermanentError(f"case {d.payload['case_id']} does not exist")  # (the claim is rolled back)
                if d.event_type == CLASSIFIED:
                    route_classified(session, case, d.payload.get("previous"), pool)
                # A redelivered or stale event for a case that has moved on changes nothing.
                elif case.status in TO_ROUTE:
                    assign_expert(session, case, pool=pool)
        session.commit()


def _handle_unavailable(ctx: Context, message_id: int, payload: dict[str, Any]) -> None:
    expert_id = payload_id(payload, "expert_id")
    if expert_id is None:
        raise PermanentError("payload has no integer expert_id")
    with ctx.sessions() as session:
        lock_for_write(session)
        if not claim_message(session, CONSUMER, message_id):
            return
        reroute_cases_of(session, expert_id)
        session.commit()


def _handle_import(ctx: Context, message_id: int, payload: dict[str, Any]) -> None:
    import_id = payload_id(payload, "import_id")
    if import_id is None:
        raise PermanentError("payload has no integer import_id")
    with ctx.sessions() as session:
        if is_handled(session, CONSUMER, message_id):
            return
    try:
        # Commits chunk by chunk; a redelivery resumes after the last committed chunk.
        run_import(ctx.sessions, import_id, date.today())
    except LookupError as err:
        raise PermanentError(str(err)) from None
    with ctx.sessions.begin() as session:
        lock_for_write(session)
        if not is_handled(session, CONSUMER, message_id):
            mark_handled(session, CONSUMER, message_id)
