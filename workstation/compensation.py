"""The compensation-estimate calculator behind a "compensation estimate" opinion. Pure: plain data in,
an estimate with its working out; no database, no Flask (the clock is read only when the caller
passes no ``today``, to place an infringement that is still going on).

How an estimate is formed, in this order (each step is recorded in ``Estimate.working``):

1. **The law.** The rule is the text in force on the last day of the infringement (today if it is
   still going on). Conduct that ended before a change is judged by the old text; conduct that began
   before a change and continued after it is one continuing infringement judged by the new text.
   This is the SPC's rule for continuing conduct (法释〔2014〕4号 for the 2013 Trademark Law; the
   same principle in 法释〔2020〕15号 for the Civil Code), and it is what "the law in force on the
   infringement dates" means here.
2. **The base.** One method, in the statute's order: where the statute ranks the methods ("the
   loss; where the loss is difficult to determine, the profit; ...") a later method may not be used
   while an earlier one was supplied. Where the statute lets the holder choose (2020 Patent Law
   art. 71, 2020 Copyright Law art. 54: loss *or* profit) both sit in one tier.
3. **Punitive damages.** For wilful (malicious) infringement with serious circumstances, where the
   applicable text has a punitive provision, damages are *the base times the multiple* (1-5, or 1-3
   under the 2013 Trademark Law). The statutes say damages "may be determined at one to five times
   the amount determined by the above methods" (可以在按照上述方法确定数额的一倍以上五倍以下确定
   赔偿数额), so the total is base x multiple, not base + base x multiple. Under the SPC's
   Interpretation on punitive damages (法释〔2021〕4号, art. 5) the base is the loss, the profit or
   the licence-fee multiple, never statutory damages and never the expenses: statutory damages
   are not multiplied. Punitive damages are not retroactive: if the infringement began before
   punitive damages existed for the right at all, only the part of the base from conduct on or
   after that date is multiplied, and the expert must state that part (``punitive_base``).
4. **Statutory damages.** Only where none of the base methods can be determined; the amount must
   lie in the statutory range of the applicable text.
5. **Reasonable expenses** for stopping the infringement (合理开支) are added on top. The statutes
   say the compensation "shall include" them; the SPC keeps them out of the punitive base and lets
   them be counted beside statutory damages, so they are added after the base, the multiple and
   the statutory range, never inside them.

Amounts are ``Decimal`` quantized to the fen (0.01, half up). Bad input raises
``CompensationError(field, message)`` so a form can show the message beside the field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from workstation.i18n import N_, Localized, in_language

LOSS = "rights_holder_loss"
PROFIT = "infringer_profit"
LICENCE = "licence_fee_multiple"
STATUTORY = "statutory"
METHODS = (LOSS, PROFIT, LICENCE, STATUTORY)

CENT = Decimal("0.01")
ONE = Decimal(1)


@dataclass(frozen=True)
class Rule:
    """One damages provision as in force from ``effective`` until the next text of the same law."""

    key: str
    statute_zh: str
    statute_en: str
    article: int
    article_zh: str
    effective: date
    #: the methods in the statute's order; methods in one tier are the rights holder's choice
    tiers: tuple[tuple[str, ...], ...]
    #: (min, max) of statutory damages, or None where the text has none
    statutory: tuple[Decimal, Decimal] | None = None
    #: (min, max) punitive multiple, or None where the text has no punitive damages
    punitive: tuple[Decimal, Decimal] | None = None
    #: the 2020 Copyright Law refers to the licence fee itself (参照该权利使用费), not a multiple of it
    licence_fee_as_is: bool = False

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(m for tier in self.tiers for m in tier)

    def cite(self, language: str = "en") -> str:
        if language == "zh":
            return f"{self.statute_zh}第{self.article_zh}条"
        return f"{self.statute_en}, Art. {self.article}"


def _d(value: int | str) -> Decimal:
    return Decimal(value)


_RANKED_ALL = ((LOSS,), (PROFIT,), (LICENCE,), (STATUTORY,))
_CHOICE_ALL = ((LOSS, PROFIT), (LICENCE,), (STATUTORY,))

#: Each family's damages provisions, oldest first. A geographical indication registered as a
#: collective or certification mark (Trademark Law art. 16; Implementing Regulations art. 4) uses
#: the trademark rules; one protected as a GI product, the "gi_product" family (``GI_AS_PRODUCT``).
RULES: dict[str, tuple[Rule, ...]] = {
    "trademark": (
        # 2001 text, art. 56: the infringer's profit or the holder's loss (either), statutory up to
        # 500,000; no licence-fee method and no punitive damages.
        Rule(
            "trademark_2001",
            "《中华人民共和国商标法》（2001年修正）",
            "Trademark Law of the PRC (2001 amendment)",
            56,
            "五十六",
            date(2001, 12, 1),
            ((LOSS, PROFIT), (STATUTORY,)),
            statutory=(_d(0), _d(500_000)),
        ),
        Rule(
            "trademark_2014",
            "《中华人民共和国商标法》（2013年修正）",
            "Trademark Law of the PRC (2013 amendment)",
            63,
            "六十三",
            date(2014, 5, 1),
            _RANKED_ALL,
            statutory=(_d(0), _d(3_000_000)),
            punitive=(ONE, _d(3)),
        ),
        Rule(
            "trademark_2019",
            "《中华人民共和国商标法》（2019年修正）",
            "Trademark Law of the PRC (2019 amendment)",
            63,
            "六十三",
            date(2019, 11, 1),
            _RANKED_ALL,
            statutory=(_d(0), _d(5_000_000)),
            punitive=(ONE, _d(5)),
        ),
    ),
    "patent": (
        Rule(
            "patent_2009",
            "《中华人民共和国专利法》（2008年修正）",
            "Patent Law of the PRC (2008 amendment)",
            65,
            "六十五",
            date(2009, 10, 1),
            _RANKED_ALL,
            statutory=(_d(10_000), _d(1_000_000)),
        ),
        # 2020 text, art. 71: "the loss *or* the profit" (the holder chooses), then the licence-fee
        # multiple; punitive 1-5x; statutory 30,000-5,000,000.
        Rule(
            "patent_2021",
            "《中华人民共和国专利法》（2020年修正）",
            "Patent Law of the PRC (2020 amendment)",
            71,
            "七十一",
            date(2021, 6, 1),
            _CHOICE_ALL,
            statutory=(_d(30_000), _d(5_000_000)),
            punitive=(ONE, _d(5)),
        ),
    ),
    "copyright": (
        # 2001 and 2010 texts (arts. 48 and 49, same words): the loss; where it is difficult to
        # calculate, the illegal gains; statutory up to 500,000. No licence-fee method.
        Rule(
            "copyright_2001",
            "《中华人民共和国著作权法》（2001年修正）",
            "Copyright Law of the PRC (2001 amendment)",
            48,
            "四十八",
            date(2001, 10, 27),
            ((LOSS,), (PROFIT,), (STATUTORY,)),
            statutory=(_d(0), _d(500_000)),
        ),
        Rule(
            "copyright_2010",
            "《中华人民共和国著作权法》（2010年修正）",
            "Copyright Law of the PRC (2010 amendment)",
            49,
            "四十九",
            date(2010, 4, 1),
            ((LOSS,), (PROFIT,), (STATUTORY,)),
            statutory=(_d(0), _d(500_000)),
        ),
        Rule(
            "copyright_2021",
            "《中华人民共和国著作权法》（2020年修正）",
            "Copyright Law of the PRC (2020 amendment)",
            54,
            "五十四",
            date(2021, 6, 1),
            _CHOICE_ALL,
            statutory=(_d(500), _d(5_000_000)),
            punitive=(ONE, _d(5)),
            licence_fee_as_is=True,
        ),
    ),
    # Trade secrets under the Anti-Unfair Competition Law: the loss, then the profit. The AUCL has
    # no licence-fee method; a licence fee used as evidence of the loss is entered as the loss.
    "trade_secret": (
        Rule(
            "trade_secret_2018",
            "《中华人民共和国反不正当竞争法》（2017年修订）",
            "Anti-Unfair Competition Law of the PRC (2017 revision)",
            17,
            "十七",
            date(2018, 1, 1),
            ((LOSS,), (PROFIT,), (STATUTORY,)),
            statutory=(_d(0), _d(3_000_000)),
        ),
        Rule(
            "trade_secret_2019",
            "《中华人民共和国反不正当竞争法》（2019年修正）",
            "Anti-Unfair Competition Law of the PRC (2019 amendment)",
            17,
            "十七",
            date(2019, 4, 23),
            ((LOSS,), (PROFIT,), (STATUTORY,)),
            statutory=(_d(0), _d(5_000_000)),
            punitive=(ONE, _d(5)),
        ),
        # The 2025 revision (in force 2025-10-15) renumbered the law; the damages provision kept the
        # 2019 amounts. The article number is from the revised text as published; check it against
        # the official text if an opinion turns on it.
        Rule(
            "trade_secret_2025",
            "《中华人民共和国反不正当竞争法》（2025年修订）",
            "Anti-Unfair Competition Law of the PRC (2025 revision)",
            22,
            "二十二",
            date(2025, 10, 15),
            ((LOSS,), (PROFIT,), (STATUTORY,)),
            statutory=(_d(0), _d(5_000_000)),
            punitive=(ONE, _d(5)),
        ),
    ),
    # A GI product (CNIPA, Measures for the Protection of Geographical Indication Products, in force
    # 2024-02-01) is not a mark: the Measures give administrative protection (their penalties refer
    # to the Product Quality, Standardisation, Trademark and Anti-Unfair Competition Laws), no civil
    # damages. Passing goods off as the GI product is sued as confusion under the AUCL (2017 and 2019
    # texts art. 6; 2025 text art. 7), whose damages provision is the one for trade secrets without
    # the punitive multiple (that is for trade secrets only): the loss, then the profit, then up to
    # 3 (2017 text) or 5 million (2019, 2025) where neither can be determined (the ceiling covers
    # arts. 6 and 9 of the 2017/2019 texts). 2025 text: damages art. 22 as published (see above).
    "gi_product": (
        Rule(
            "gi_product_2018",
            "《中华人民共和国反不正当竞争法》（2017年修订）",
            "Anti-Unfair Competition Law of the PRC (2017 revision)",
            17,
            "十七",
            date(2018, 1, 1),
            ((LOSS,), (PROFIT,), (STATUTORY,)),
            statutory=(_d(0), _d(3_000_000)),
        ),
        Rule(
            "gi_product_2019",
            "《中华人民共和国反不正当竞争法》（2019年修正）",
            "Anti-Unfair Competition Law of the PRC (2019 amendment)",
            17,
            "十七",
            date(2019, 4, 23),
            ((LOSS,), (PROFIT,), (STATUTORY,)),
            statutory=(_d(0), _d(5_000_000)),
        ),
        Rule(
            "gi_product_2025",
            "《中华人民共和国反不正当竞争法》（2025年修订）",
            "Anti-Unfair Competition Law of the PRC (2025 revision)",
            22,
            "二十二",
            date(2025, 10, 15),
            ((LOSS,), (PROFIT,), (STATUTORY,)),
            statutory=(_d(0), _d(5_000_000)),
        ),
    ),
    # "Other" rights: the general rule on property damage (loss at market price or another reasonable
    # way, which covers the infringer's profit). No statutory range and no punitive multiple: rights
    # with a statute of their own (plant varieties under the Seed Law, layout designs) need that
    # statute, which this calculator does not model.
    "other": (
        Rule(
            "other_2010",
            "《中华人民共和国侵权责任法》",
            "Tort Liability Law of the PRC",
            19,
            "十九",
            date(2010, 7, 1),
            ((LOSS, PROFIT),),
        ),
        Rule(
            "other_2021",
            "《中华人民共和国民法典》",
            "Civil Code of the PRC",
            1184,
            "一千一百八十四",
            date(2021, 1, 1),
            ((LOSS, PROFIT),),
        ),
    ),
}

_FAMILY = {
    "patent": "patent",
    "trademark": "trademark",
    "geographical_indication": "trademark",
    "copyright": "copyright",
    "trade_secret": "trade_secret",
    "other": "other",
}

#: How a geographical indication is protected (``CompensationInput.gi_route``): as a collective or
#: certification mark, or as a GI product (``vocabulary.gi_protected_as_product`` tells from a case's rights).
GI_AS_MARK = "mark"
GI_AS_PRODUCT = "product"

#: The confusion provision of each GI-product text: what passing goods off as the GI product is sued under.
_CONFUSION_ARTICLE = {
    "gi_product_2018": Localized({"zh": "《中华人民共和国反不正当竞争法》（2017年修订）第六条",
                                  "en": "Anti-Unfair Competition Law of the PRC (2017 revision), Art. 6"}),
    "gi_product_2019": Localized({"zh": "《中华人民共和国反不正当竞争法》（2019年修正）第六条",
                                  "en": "Anti-Unfair Competition Law of the PRC (2019 amendment), Art. 6"}),
    "gi_product_2025": Localized({"zh": "《中华人民共和国反不正当竞争法》（2025年修订）第七条",
                                  "en": "Anti-Unfair Competition Law of the PRC (2025 revision), Art. 7"}),
}  # fmt: skip


def family_of(right_type: str, gi_route: str = GI_AS_MARK) -> str:
    """Which family of ``RULES`` governs ``right_type`` (a GI by its route)."""
    if right_type not in _FAMILY:
        raise CompensationError("right_type", f"Unknown right type {right_type!r}.")
    if gi_route not in (GI_AS_MARK, GI_AS_PRODUCT):
        raise CompensationError("gi_route", f"Unknown route {gi_route!r}.")
    if right_type == "geographical_indication" and gi_route == GI_AS_PRODUCT:
        return "gi_product"
    return _FAMILY[right_type]


#: The first day on which each family had punitive damages at all: conduct before it is never multiplied.
PUNITIVE_SINCE: dict[str, date] = {
    family: next(r.effective for r in rules if r.punitive)
    for family, rules in RULES.items()
    if any(r.punitive for r in rules)
}


class CompensationError(ValueError):
    """Input the calculator cannot use; ``field`` names the form field the message belongs beside."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class CompensationInput:
    right_type: str
    method: str
    infringement_start: date
    #: None: the infringement is still going on
    infringement_end: date | None = None
    loss: Decimal | None = None
    profit: Decimal | None = None
    licence_fee: Decimal | None = None
    #: patent and trademark: the "reasonable multiple" of the fee (at least 1); copyright 2021: 1
    licence_multiple: Decimal | None = None
    #: statutory method: the amount the expert proposes; None gives the whole statutory range
    statutory_amount: Decimal | None = None
    #: wilful (malicious) infringement with serious circumstances, as the expert finds it
    wilful_serious: bool = False
    #: the expert's proposed multiple; None with ``wilful_serious`` gives the whole legal range
    punitive_multiple: Decimal | None = None
    #: the part of the base from conduct on or after punitive damages came into force; needed
    #: when the infringement began before that date, optional (default: the whole base) otherwise
    punitive_base: Decimal | None = None
    reasonable_expenses: Decimal = Decimal(0)
    #: a geographical indication's route: ``GI_AS_MARK`` (the default) or ``GI_AS_PRODUCT``
    gi_route: str = GI_AS_MARK


@dataclass(frozen=True)
class Step:
    """One line of the working: a code and its parameters, rendered by ``render_working``."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Estimate:
    low: Decimal
    high: Decimal
    law: Rule
    method: str
    #: the amount the chosen method gives before any multiple (None for statutory damages)
    base: Decimal | None
    expenses: Decimal
    working: tuple[Step, ...]

    @property
    def amount(self) -> Decimal | None:
        """The estimate when it is a single figure, else None (a range)."""
        return self.low if self.low == self.high else None


# --- input ------------------------------------------------------------------------------------


def _decimal(value: object, name: str) -> Decimal | None:
    # Forms hand over strings and ints as often as Decimals; floats go through str so 0.1 stays 0.1.
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise CompensationError(name, "Enter an amount.")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).replace(",", "").strip())
    except (InvalidOperation, ValueError):
        raise CompensationError(name, "Enter an amount.") from None
    if not number.is_finite():
        raise CompensationError(name, "Enter an amount.")
    if number < 0:
        raise CompensationError(name, "Must not be negative.")
    return number


def _money(value: object, name: str) -> Decimal | None:
    number = _decimal(value, name)
    return None if number is None else number.quantize(CENT, rounding=ROUND_HALF_UP)


def _q(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def applicable_rule(
    right_type: str, start: date, end: date | None = None, today: date | None = None, gi_route: str = GI_AS_MARK
) -> Rule:
    """The damages provision for an infringement from ``start`` to ``end`` (None: still going on).

    The text in force on the last day of the infringement: conduct continuing past a change of law
    is judged by the new law, conduct that ended before it by the old one.
    """
    family = family_of(right_type, gi_route)
    today = today or date.today()
    if start > today:
        raise CompensationError("infringement_start", "The infringement cannot start in the future.")
    if end is not None and end < start:
        raise CompensationError("infringement_end", "The infringement cannot end before it starts.")
    if end is not None and end > today:
        raise CompensationError("infringement_end", "The end date is in the future; leave it blank if ongoing.")
    last_day = end or today
    rules = RULES[family]
    in_force = [r for r in rules if r.effective <= last_day]
    if not in_force:
        raise CompensationError(
            "infringement_end",
            f"The calculator's rules for this right start on {rules[0].effective.isoformat()}; "
            "earlier infringement needs the law of its time.",
        )
    return in_force[-1]


def _in_force_on(family: str, day: date) -> Rule | None:
    in_force = [r for r in RULES[family] if r.effective <= day]
    return in_force[-1] if in_force else None


# --- the calculator ---------------------------------------------------------------------------


def estimate(inp: CompensationInput, today: date | None = None) -> Estimate:
    """The compensation estimate for ``inp`` with its working, or CompensationError."""
    if inp.method not in METHODS:
        raise CompensationError("method", f"Unknown method {inp.method!r}.")
    amounts = {
        name: _money(getattr(inp, name), name)
        for name in ("loss", "profit", "licence_fee", "statutory_amount", "punitive_base", "reasonable_expenses")
    }
    licence_multiple = _decimal(inp.licence_multiple, "licence_multiple")
    punitive_multiple = _decimal(inp.punitive_multiple, "punitive_multiple")
    expenses = amounts["reasonable_expenses"] or Decimal("0.00")

    rule = applicable_rule(inp.right_type, inp.infringement_start, inp.infringement_end, today, inp.gi_route)
    family = family_of(inp.right_type, inp.gi_route)
    steps: list[Step] = [
        Step("period", {"start": inp.infringement_start, "end": inp.infringement_end}),
        Step("law", {"rule": rule.key}),
    ]
    if inp.infringement_start < rule.effective:
        began_under = _in_force_on(family, inp.infringement_start)
        steps.append(
            Step(
                "law_continuing", {"began_under": began_under.key if began_under else None, "effective": rule.effective}
            )
        )
    if family == "gi_product":
        steps.append(Step("gi_product", {"confusion": rule.key}))
    elif inp.right_type == "geographical_indication":
        steps.append(Step("gi_as_trademark"))
    if family == "other":
        steps.append(Step("other_general"))

    # The method: allowed by the text, and not passed over while an earlier-ranked one was supplied.
    method = inp.method
    if method not in rule.methods:
        raise CompensationError("method", f"{rule.cite()} provides no {_METHOD_NAMES[method]} method.")
    tier = next(i for i, t in enumerate(rule.tiers) if method in t)
    supplied = {LOSS: amounts["loss"], PROFIT: amounts["profit"], LICENCE: amounts["licence_fee"], STATUTORY: None}
    earlier = [m for t in rule.tiers[:tier] for m in t]
    for m in earlier:
        if supplied[m] is not None:
            raise CompensationError(
                "method",
                f"Under {rule.cite()} the {_METHOD_NAMES[m]} comes before the {_METHOD_NAMES[method]}: "
                "use it, or leave it blank if it cannot be determined.",
            )
    if earlier:
        steps.append(Step("method_order", {"method": method, "before": tuple(earlier)}))
    if len(rule.tiers[tier]) > 1:
        steps.append(Step("method_choice", {"choices": rule.tiers[tier]}))

    _check_punitive_request(inp, rule, method, punitive_multiple)

    if method == STATUTORY:
        low, high, base = _statutory(rule, amounts["statutory_amount"], steps)
        if inp.wilful_serious:
            steps.append(Step("punitive_not_on_statutory"))
    else:
        base = _base(rule, method, amounts, licence_multiple, steps)
        low = high = base
        if inp.wilful_serious and family == "other":
            steps.append(Step("punitive_not_modelled"))
        elif inp.wilful_serious and family == "gi_product":
            steps.append(Step("punitive_not_for_confusion"))
        elif inp.wilful_serious and rule.punitive is None:
            steps.append(Step("punitive_not_in_law"))
        elif inp.wilful_serious:
            low, high = _punitive(inp, rule, family, base, amounts["punitive_base"], punitive_multiple, steps)

    if expenses:
        steps.append(Step("expenses", {"amount": expenses}))
    low, high = _q(low + expenses), _q(high + expenses)
    steps.append(Step("total", {"low": low, "high": high}))
    return Estimate(low, high, rule, method, base, expenses, tuple(steps))


def _check_punitive_request(inp: CompensationInput, rule: Rule, method: str, multiple: Decimal | None) -> None:
    if multiple is None:
        return
    if not inp.wilful_serious:
        raise CompensationError(
            "punitive_multiple",
            "A punitive multiple needs a finding of wilful infringement with serious circumstances.",
        )
    if family_of(inp.right_type, inp.gi_route) == "other":
        raise CompensationError(
            "punitive_multiple",
            "No punitive multiple is modelled for other rights: it comes from the right's own statute.",
        )
    if family_of(inp.right_type, inp.gi_route) == "gi_product":
        raise CompensationError(
            "punitive_multiple",
            f"{rule.cite()} provides punitive damages for trade-secret infringement only, not for confusion.",
        )
    if rule.punitive is None:
        raise CompensationError(
            "punitive_multiple",
            f"{rule.cite()} (applicable to this infringement period) provides no punitive damages.",
        )
    if method == STATUTORY:
        raise CompensationError(
            "punitive_multiple",
            "Statutory damages cannot be multiplied: the punitive base is the loss, the profit or the "
            "licence-fee multiple (SPC Interpretation on punitive damages, Fa Shi [2021] No. 4, art. 5).",
        )
    lowest, highest = rule.punitive
    if not lowest <= multiple <= highest:
        raise CompensationError(
            "punitive_multiple",
            f"Must be between {format_multiple(lowest)} and {format_multiple(highest)} under {rule.cite()}.",
        )


def _statutory(rule: Rule, proposed: Decimal | None, steps: list[Step]) -> tuple[Decimal, Decimal, None]:
    assert rule.statutory is not None  # STATUTORY is only in the tiers of texts with a range
    lowest, highest = (_q(v) for v in rule.statutory)
    steps.append(Step("statutory_range", {"min": lowest, "max": highest}))
    if proposed is None:
        return lowest, highest, None
    if not lowest <= proposed <= highest:
        raise CompensationError(
            "statutory_amount",
            f"Must be between {format_money(lowest)} and {format_money(highest)} under {rule.cite()}.",
        )
    steps.append(Step("statutory_proposed", {"amount": proposed}))
    return proposed, proposed, None


def _base(
    rule: Rule, method: str, amounts: dict[str, Decimal | None], licence_multiple: Decimal | None, steps: list[Step]
) -> Decimal:
    if method == LOSS:
        loss = _required(amounts["loss"], "loss")
        steps.append(Step("base_loss", {"amount": loss}))
        return loss
    if method == PROFIT:
        profit = _required(amounts["profit"], "profit")
        steps.append(Step("base_profit", {"amount": profit}))
        return profit
    fee = _required(amounts["licence_fee"], "licence_fee")
    if rule.licence_fee_as_is:
        if licence_multiple is not None and licence_multiple != ONE:
            raise CompensationError(
                "licence_multiple", f"{rule.cite()} refers to the licence fee itself, not a multiple of it."
            )
        licence_multiple = ONE
    else:
        licence_multiple = _required(licence_multiple, "licence_multiple")
        # A multiple below 1 would make infringing cheaper than taking a licence.
        if licence_multiple < ONE:
            raise CompensationError("licence_multiple", "A reasonable multiple of the licence fee is at least 1.")
    base = _q(fee * licence_multiple)
    steps.append(Step("base_licence", {"fee": fee, "multiple": licence_multiple, "amount": base}))
    return base


def _required(value: Decimal | None, name: str) -> Decimal:
    if value is None:
        raise CompensationError(name, "Required for this method.")
    return value


def _punitive(
    inp: CompensationInput,
    rule: Rule,
    family: str,
    base: Decimal,
    punitive_base: Decimal | None,
    multiple: Decimal | None,
    steps: list[Step],
) -> tuple[Decimal, Decimal]:
    assert rule.punitive is not None
    since = PUNITIVE_SINCE[family]
    if punitive_base is None and inp.infringement_start < since:
        raise CompensationError(
            "punitive_base",
            f"The infringement began before punitive damages existed ({since.isoformat()}): state the part of "
            "the base that comes from conduct on or after that date.",
        )
    multiplied = base if punitive_base is None else punitive_base
    if multiplied > base:
        raise CompensationError("punitive_base", "Cannot exceed the base.")
    once = base - multiplied
    if multiplied != base:
        steps.append(Step("punitive_partial", {"since": since, "multiplied": multiplied, "once": once}))
    lowest, highest = rule.punitive
    if multiple is not None:
        amount = _q(once + multiplied * multiple)
        steps.append(Step("punitive_multiple", {"multiple": multiple, "min": lowest, "max": highest, "amount": amount}))
        return amount, amount
    low, high = _q(once + multiplied * lowest), _q(once + multiplied * highest)
    steps.append(Step("punitive_range", {"min": lowest, "max": highest, "low": low, "high": high}))
    return low, high


# --- rendering --------------------------------------------------------------------------------

#: The methods as the calculator's (English) messages name them.
_METHOD_NAMES: dict[str, str] = {
    LOSS: "rights holder's actual loss",
    PROFIT: "infringer's profit from the infringement",
    LICENCE: "licence-fee multiple",
    STATUTORY: "statutory damages",
}

#: The methods as the working names them, through the catalogs.
_METHODS_IN_WORDS: dict[str, str] = {
    LOSS: N_("the rights holder's actual loss"),
    PROFIT: N_("the infringer's profit from the infringement"),
    LICENCE: N_("the licence-fee multiple"),
    STATUTORY: N_("the statutory damages"),
}

#: The SPC's interpretation that keeps statutory damages and expenses out of the punitive base.
_SPC_PUNITIVE = Localized(
    {
        "zh": "《最高人民法院关于审理侵害知识产权民事案件适用惩罚性赔偿的解释》（法释〔2021〕4号）第五条",
        "en": "SPC Interpretation on punitive damages in IP infringement cases (Fa Shi [2021] No. 4), art. 5",
    }
)

#: Where the items of a list of methods are separated (the last one is joined by the sentence's own word).
_LIST_SEPARATOR = {"zh": "、", "en": ", "}

_RULES_BY_KEY = {rule.key: rule for rules in RULES.values() for rule in rules}


def format_money(amount: Decimal | str, language: str = "en") -> str:
    """``人民币200,000.00元`` or ``¥200,000.00``: how the working and the opinions write amounts."""
    text = f"{_q(Decimal(amount)):,.2f}"
    return f"人民币{text}元" if language == "zh" else f"¥{text}"


def format_multiple(multiple: Decimal) -> str:
    """``3`` for 3.00, ``1.5`` for 1.50: a punitive multiple as written."""
    return format(multiple.normalize(), "f")


def format_date(day: date, language: str = "en") -> str:
    """``2026年1月2日`` or ``2026-01-02``: how the working and the opinions write dates."""
    return f"{day.year}年{day.month}月{day.day}日" if language == "zh" else day.isoformat()


#: One sentence of the working per step code and variant (``_variant``), as an English msgid the
#: catalogs translate; ``_params`` gives its parameters in the reader's language.
_SENTENCES: dict[tuple[str, str], str] = {
    ("period", ""): N_("Infringement period: %(start)s to %(end)s."),
    ("period", "ongoing"): N_("Infringement period: from %(start)s, ongoing."),
    ("law", ""): N_("Applicable law: %(law)s (in force from %(in_force)s)."),
    ("law_continuing", ""): N_(
        "The infringement began under %(began_under)s and continued after %(effective)s; continuing infringement "
        "is judged by the law in force when it ended (the rule of Fa Shi [2014] No. 4 and Fa Shi [2020] No. 15)."
    ),
    ("law_continuing", "earlier"): N_(
        "The infringement began before this text came into force and continued after %(effective)s; continuing "
        "infringement is judged by the law in force when it ended (the rule of Fa Shi [2014] No. 4 and Fa Shi "
        "[2020] No. 15)."
    ),
    ("gi_as_trademark", ""): N_(
        "The geographical indication is taken as registered as a collective or certification mark (Trademark Law "
        "art. 16, Implementing Regulations art. 4; the case's rights name no GI product without a mark), so the "
        "trademark damages rules apply."
    ),
    ("gi_product", ""): N_(
        "The geographical indication is protected as a GI product (CNIPA Measures for the Protection of "
        "Geographical Indication Products, 2024), not as a mark: the Measures give administrative protection, not "
        "damages. Passing goods off as the GI product is claimed as confusion under %(confusion)s, with damages "
        "under %(law)s: the loss, then the profit, then statutory damages; the Trademark Law's range and punitive "
        "damages do not apply. For reference, not legal advice."
    ),
    ("other_general", ""): N_(
        "No IP-specific damages provision is applied to this right type: only the actual loss or the "
        "infringer's profit, no statutory range and no punitive multiple."
    ),
    ("method_order", ""): N_("Under %(law)s %(method)s may be used only where %(before)s cannot be determined."),
    ("method_order", "several"): N_(
        "Under %(law)s %(method)s may be used only where %(before)s or %(last)s cannot be determined."
    ),
    ("method_choice", ""): N_("Under %(law)s the rights holder may choose between %(choices)s and %(last)s."),
    ("base_loss", ""): N_("Base: the rights holder's actual loss, %(amount)s."),
    ("base_profit", ""): N_("Base: the infringer's profit from the infringement, %(amount)s."),
    ("base_licence", ""): N_("Base: the licence fee %(fee)s x %(multiple)s = %(amount)s."),
    ("statutory_range", ""): N_("Statutory damages: %(law)s allows from %(min)s to %(max)s."),
    ("statutory_range", "no_minimum"): N_("Statutory damages: %(law)s allows up to %(max)s."),
    ("statutory_proposed", ""): N_("Proposed statutory damages: %(amount)s, within the statutory range."),
    ("punitive_partial", ""): N_(
        "Punitive damages exist only from %(since)s: the multiple applies to the %(multiplied)s of the base from "
        "conduct on or after that date; the remaining %(once)s counts once."
    ),
    ("punitive_multiple", ""): N_(
        "Wilful infringement with serious circumstances: under %(law)s damages are %(multiple)s x the base (the "
        "law allows %(min)s to %(max)s x; the base excludes expenses, %(spc)s), i.e. %(amount)s."
    ),
    ("punitive_range", ""): N_(
        "Wilful infringement with serious circumstances: under %(law)s damages may be %(min)s to %(max)s x the "
        "base (the base excludes expenses, %(spc)s), i.e. %(low)s to %(high)s."
    ),
    ("punitive_not_in_law", ""): N_(
        "Wilful infringement with serious circumstances is noted, but %(law)s provides no punitive damages: the "
        "base is compensated once."
    ),
    ("punitive_not_modelled", ""): N_(
        "Wilful infringement with serious circumstances is noted, but the punitive multiple for this right comes "
        "from its own statute, which is not modelled here: the base is compensated once."
    ),
    ("punitive_not_for_confusion", ""): N_(
        "Wilful infringement with serious circumstances is noted, but under %(law)s punitive damages are for "
        "trade-secret infringement only, not for confusion: the base is compensated once."
    ),
    ("punitive_not_on_statutory", ""): N_(
        "Statutory damages are not a punitive base (%(spc)s); the wilfulness may be weighed within the statutory range."
    ),
    ("expenses", ""): N_("Plus reasonable expenses for stopping the infringement: %(amount)s."),
    ("total", ""): N_("Estimated compensation: %(low)s."),
    ("total", "range"): N_("Estimated compensation: %(low)s to %(high)s."),
}

#: Steps whose sentence differs with their parameters: the variant of ``_SENTENCES`` to use.
_VARIANTS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "period": lambda p: "ongoing" if p["end"] is None else "",
    "law_continuing": lambda p: "" if p["began_under"] else "earlier",
    "method_order": lambda p: "several" if len(p["before"]) > 1 else "",
    "statutory_range": lambda p: "" if p["min"] else "no_minimum",
    "total": lambda p: "" if p["low"] == p["high"] else "range",
}

#: Parameters that are multiples (the other amounts are money).
_MULTIPLES: dict[str, set[str]] = {
    "base_licence": {"multiple"},
    "punitive_multiple": {"multiple", "min", "max"},
    "punitive_range": {"min", "max"},
}


def _params(step: Step, rule: Rule, language: str) -> dict[str, object]:
    """The step's parameters written in ``language``: money, dates, multiples, laws and methods."""
    out: dict[str, object] = {
        "law": rule.cite(language),
        "in_force": format_date(rule.effective, language),
        "spc": _SPC_PUNITIVE.in_language(language),
    }
    for key, value in step.params.items():
        if key in _MULTIPLES.get(step.code, ()):
            out[key] = format_multiple(value)
        elif isinstance(value, Decimal):
            out[key] = format_money(value, language)
        elif isinstance(value, date):
            out[key] = format_date(value, language)
        elif key == "confusion":
            out[key] = _CONFUSION_ARTICLE[value].in_language(language)
        elif key == "began_under" and value:
            out[key] = _RULES_BY_KEY[value].cite(language)
        elif key == "method":
            out[key] = in_language(_METHODS_IN_WORDS[value], language)
        elif key in ("before", "choices"):  # all but the last, which the sentence joins with its own word
            names = [in_language(_METHODS_IN_WORDS[m], language) for m in value]
            out[key] = _LIST_SEPARATOR[language].join(names[:-1]) if len(names) > 1 else names[0]
            out["last"] = names[-1]
    return out


def _sentence(step: Step, rule: Rule, language: str) -> str:
    variant = _VARIANTS[step.code](step.params) if step.code in _VARIANTS else ""
    template = _SENTENCES.get((step.code, variant))
    if template is None:
        raise ValueError(f"unknown step {step.code!r}")
    return in_language(template, language, **_params(step, rule, language))


def render_working(estimate: Estimate, language: str = "zh") -> list[str]:
    """The working as full sentences in Chinese (``zh``, the default) or English (``en``)."""
    if language not in ("zh", "en"):
        raise ValueError(f"unknown language {language!r}")
    return [_sentence(step, estimate.law, language) for step in estimate.working]
