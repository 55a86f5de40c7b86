"""Look-alike trademark check: speed with the index against brute force, and recall / false alarms on
an examiner-labelled set of pairs and on planted look-alikes.

    .venv/bin/python benchmarks/similarity.py [--watched 100000] [--candidates 2000] [--planted 0.2]
                                              [--brute-sample 100] [--seed 7]
                                              [--pairs tests/data/mark_pairs.csv]
                                              [--holdout tests/data/mark_pairs_holdout.csv]

**The labelled set** (``--pairs``, columns ``mark_a,mark_b,label,kind,note``): pairs of Chinese, Latin
and mixed marks labelled ``similar`` or ``distinct`` as an examiner would judge them (商标审查审理指南),
written for that and not derived from the module's rules. Each pair is judged as a notice would be:
``mark_a`` is the watched mark, ``mark_b`` the new one (``contains`` looks one way only), with the
default threshold and class rule and no classes (``workstation.similarity.verdict``, which ``python -m
workstation compare-marks`` uses too). Recall is the share of ``similar`` pairs judged similar, the
false-alarm rate the share of ``distinct`` pairs judged similar; both are printed per kind, with every
miss and false alarm and its reasons.

**The generated feed**: a watched-mark register (Chinese marks of 2-4 characters drawn, more often the
common ones, from about 400 characters used in Chinese brand names; pronounceable Latin words;
combined Chinese + Latin marks; 1-3 Nice classes each, the busy classes more often) and a feed of
candidate marks. A share of the candidates (``--planted``) are look-alikes derived from a random
watched mark, of every kind ``workstation.similarity`` knows (look-alike characters, homophones, pinyin
spellings, generic words added, the mark inside a longer one, small Latin edits, rn/m, 0/O, I/l, 5/S, 2/Z,
English spellings of one sound: f/ph, c/k, x/ks), filed
in one of the source's classes; the rest are fresh marks made the same way as the register (none the
same wording as a watched mark). It prints:

- the time and memory to prepare and index the register;
- p50 / p99 time of checking one candidate (preparing it included) against the whole register with
  ``find_lookalikes(mark, index)``, and, side by side in the same run, with brute force
  (``find_lookalikes(mark, list)``: ``compare`` on every watched mark) for a sample of candidates,
  and whether both found the same matches;
- planted recall: the share of planted look-alikes whose source is among the matches, per kind. They
  are made by the rules the module checks, so this shows that every kind is caught at scale, not how
  the rules fare on real marks (the labelled set is for that);
- fresh alarms: the share of fresh candidates with any match, and the reasons of those matches.
  Fresh marks are random, not checked by an examiner: some of these are real homophones or
  near-spellings (a two-character register drawn from 400 characters has many), so this is an upper
  bound on the noise, not a count of mistakes.

The last line is machine-readable; ``p99_ms`` is the indexed check, ``recall_pct`` and
``false_alarm_pct`` are the labelled set's, ``planted_recall_pct`` and ``fresh_alarm_pct`` the
generated feed's:

    similarity: p99_ms=<n> recall_pct=<n> false_alarm_pct=<n> p50_ms=<n> brute_p50_ms=<n> index_s=<n>
    rss_mb=<n> planted_recall_pct=<n> fresh_alarm_pct=<n> pairs=<n> holdout_recall_pct=<n>
    holdout_false_alarm_pct=<n> holdout_pairs=<n>

**The second labelled set** (``--holdout``, same columns) was written before the English sound,
zh-en translation and one-stroke rules, and is only scored, never tuned on.

(one line).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import random
import resource
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from pypinyin import Style, lazy_pinyin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workstation.similarity import (  # noqa: E402
    HAN_CONFUSABLE_GROUPS,
    Mark,
    build_index,
    find_lookalikes,
    prepare,
    verdict,
)

#: Characters of Chinese brand names, roughly the most used first (sampling favours the front).
CHARACTERS = "".join(
    dict.fromkeys(
        "华星金龙美达信宝新恒通源泰盛鑫隆德安康乐福瑞祥丰和天海云光明东方中大小红绿蓝白青紫佳优品尚雅"
        "悦欣怡馨嘉豪锦绣鼎辉煌腾飞翔宇宙航乾坤元亨利吉如意万千百山川河湖江水木火土石林森峰岭泉溪月日"
        "辰阳春夏秋冬风雨雷电花草叶果米麦香甜鲜味食饮茶酒奶蜜糖园农牧渔家居厨卫器机汽车船智能数网创"
        "睿慧聪灵思维博学文艺术音影视传媒广印纸笔墨书画礼玩服装鞋帽包珠首饰钟表镜妆肤容健医药生基因"
        "诊养母婴儿童育培训咨询律融银保险证投资地产筑材料钢铁铜铝塑胶玻璃陶瓷纺织皮革永久长城宏伟志远"
        "凯旋胜利盈富贵荣耀尊享爱心诚实惠友邦联合众一二三五六七八九十百千万亿兴旺发展进步立本正道义"
        "仁礼孝廉忠勇强壮精益求臻品质匠工坊堂阁轩斋居舍苑庭府城都港湾岛洲桥路街巷村镇乡田野林牛马"
        "羊鹿鹤凤凰麒麟虎豹熊猫鹰雁燕鸽蝶蜂鱼虾蟹贝珍玉翠钻晶彩虹霞雪霜露冰清澈净洁白素朴简约时代"
        "未来今古典雅致趣味童真师帅太犬曰士末己已巳人入刀力王主术干于免兔由甲申见戊戌侯候乌鸟"
    )
)
LATIN_ONSETS = ["b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z"] + ["st", "tr"]
LATIN_NUCLEI = ["a", "e", "i", "o", "u", "a", "e", "o", "ia", "ou"]
LATIN_CODAS = ["", "", "", "n", "r", "s", "x", "l", "m"]
#: Nice classes by how busy they are in China's register (35, 9, 25, 43, 30, 41, 42 ... first).
BUSY_CLASSES = [35, 9, 25, 43, 30, 41, 42, 29, 3, 5, 11, 20, 21, 16, 44, 32, 33, 18, 14, 36, 28, 7, 10, 12, 37]
GENERIC_SUFFIXES = ["科技", "集团", "有限公司", "牌", "科技有限公司"]
LATIN_GENERIC = ["Tech", "Group", "Co., Ltd.", "International"]


#: Zipf-like weights, flattened at the head: the first character is used about 20 times as often as the last.
_CUMULATIVE = list(itertools.accumulate(1 / (rank + 20) for rank in range(len(CHARACTERS))))


def weighted_character(rng: random.Random) -> str:
    return rng.choices(CHARACTERS, cum_weights=_CUMULATIVE)[0]


def chinese_mark(rng: random.Random) -> str:
    return "".join(weighted_character(rng) for _ in range(rng.choices([2, 3, 4], weights=[45, 35, 20])[0]))


def latin_word(rng: random.Random) -> str:
    syllables = rng.choices([2, 3, 4], weights=[40, 45, 15])[0]
    word = "".join(
        rng.choice(LATIN_ONSETS) + rng.choice(LATIN_NUCLEI) + rng.choice(LATIN_CODAS) for _ in range(syllables)
    )
    return word.capitalize()


def any_mark(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.6:
        return chinese_mark(rng)
    if kind < 0.9:
        return latin_word(rng) if rng.random() < 0.8 else f"{latin_word(rng)} {latin_word(rng)}"
    return f"{chinese_mark(rng)} {latin_word(rng).upper()}"


def classes(rng: random.Random, n: int) -> frozenset[int]:
    picked = set()
    while len(picked) < n:
        picked.add(rng.choice(BUSY_CLASSES) if rng.random() < 0.7 else rng.randint(1, 45))
    return frozenset(picked)


# --- planting look-alikes -----------------------------------------------------------------------------

CONFUSABLE = {c: group for group in HAN_CONFUSABLE_GROUPS for c in group}
READINGS: dict[str, list[str]] = {}
for _char in CHARACTERS:
    READINGS.setdefault(lazy_pinyin(_char, style=Style.NORMAL)[0], []).append(_char)


def _swap_one(rng: random.Random, text: str, options: Callable[[str], list[str]]) -> str | None:
    positions = [i for i, c in enumerate(text) if options(c)]
    if not positions:
        return None
    i = rng.choice(positions)
    return text[:i] + rng.choice(options(text[i])) + text[i + 1 :]


def plant(rng: random.Random, source: str) -> tuple[str, str] | None:
    """A look-alike of ``source`` and its kind, or None if this kind does not apply to it."""
    han = "".join(c for c in source if "\u4e00" <= c <= "\u9fff")
    latin = source.replace(han, "").strip() if han else source
    if han and latin:  # a combined mark: one of its parts alone
        return (han, "same_part") if rng.random() < 0.5 else (latin, "same_part")
    if han:
        kind = rng.choice(["visual", "phonetic", "transliteration", "generic", "contains", "near_text"])
        if kind == "visual":
            out = _swap_one(rng, han, lambda c: [x for x in CONFUSABLE.get(c, "") if x != c])
        elif kind == "phonetic":
            out = _swap_one(rng, han, lambda c: [x for x in READINGS[lazy_pinyin(c, style=Style.NORMAL)[0]] if x != c])
        elif kind == "transliteration":
            syllables = lazy_pinyin(han, style=Style.NORMAL)
            out = rng.choice(
                [
                    "".join(syllables).upper(),
                    " ".join(s.capitalize() for s in syllables),
                    "".join(s.capitalize() for s in syllables),
                ]
            )
        elif kind == "generic":
            out = han + rng.choice(GENERIC_SUFFIXES)
        elif kind == "contains":
            out = weighted_character(rng) + han if rng.random() < 0.5 else han + weighted_character(rng) + "科技"
        else:
            out = _swap_one(rng, han, lambda c: [weighted_character(rng)]) if len(han) >= 3 else None
        return (out, kind) if out and out != han else None
    kind = rng.choice(["case", "generic", "near_text", "visual", "contains", "sound"])
    word = latin
    if kind == "case":
        out = word.upper() if rng.random() < 0.5 else "-".join([word[: len(word) // 2], word[len(word) // 2 :]])
    elif kind == "generic":
        out = f"{word} {rng.choice(LATIN_GENERIC)}"
    elif kind == "near_text":
        if len(word.replace(" ", "")) < 5:
            return None
        i = rng.randrange(1, len(word))
        out = (
            word[:i] + rng.choice("aeioubdklmnrst") + word[i + 1 :] if rng.random() < 0.5 else word[:i] + word[i + 1 :]
        )
    elif kind == "visual":
        pairs = (("m", "rn"), ("o", "0"), ("l", "I"), ("w", "vv"), ("i", "1"), ("s", "5"), ("z", "2"))
        swaps = [(a, b) for a, b in pairs if a in word.lower()]
        if not swaps:
            return None
        a, b = rng.choice(swaps)
        out = word.lower().replace(a, b, 1)
    elif kind == "sound":  # another spelling of the same English sound, in a word of 4+ letters
        lower = word.lower()
        same_sound = (("f", "ph"), ("ca", "ka"), ("co", "ko"), ("x", "ks"), ("ck", "k"))
        spellings = [(a, b) for a, b in same_sound if a in lower]
        if len(lower.replace(" ", "")) < 4 or not spellings:
            return None
        a, b = rng.choice(spellings)
        out = lower.replace(a, b, 1)
    else:  # glued on, only to a word of 5+ letters: Star is not in Starbucks
        out = word + rng.choice(["store", "phone", "mart"] * (len(word) >= 5) + [" Plus", " Home"])
    return (out, kind) if out.casefold() != word.casefold() or kind == "case" else None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * q), len(ordered) - 1)]


ROOT = Path(__file__).resolve().parent.parent
PAIRS = ROOT / "tests" / "data" / "mark_pairs.csv"
#: The second labelled set, written before the sound, translation and one-stroke rules and never tuned on.
HOLDOUT = ROOT / "tests" / "data" / "mark_pairs_holdout.csv"


def rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is in KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def labelled_set(path: Path) -> tuple[float, float, int]:
    """Recall and false-alarm rate (0-1) on the examiner-labelled pairs, and their number; prints
    the figures per kind and every miss and false alarm."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        pairs = list(csv.DictReader(f))
    by_kind: dict[tuple[str, str], list[int]] = {}  # (label, kind) -> [judged similar, total]
    misses, alarms = [], []
    for pair in pairs:
        judged = verdict(pair["mark_a"], pair["mark_b"])
        counts = by_kind.setdefault((pair["label"], pair["kind"]), [0, 0])
        counts[0] += judged.similar
        counts[1] += 1
        if pair["label"] == "similar" and not judged.similar:
            misses.append(pair)
        elif pair["label"] == "distinct" and judged.similar:
            alarms.append((pair, judged))
    similar = sum(p["label"] == "similar" for p in pairs)
    distinct = len(pairs) - similar
    recall = 1 - len(misses) / max(similar, 1)
    false_alarm_rate = len(alarms) / max(distinct, 1)
    print(f"labelled set {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {len(pairs)} pairs")
    print(f"  {'label / kind':34}{'judged similar':>16}")
    for (label, kind), (hits, total) in sorted(by_kind.items()):
        print(f"  {label + ' / ' + kind:34}{hits:>10} / {total:<4}")
    print(f"  recall {recall:.1%} ({similar - len(misses)} of {similar} similar pairs judged similar)")
    for pair in misses:
        print(f"    miss: {pair['mark_a']} / {pair['mark_b']} ({pair['kind']}: {pair['note']})")
    print(f"  false alarms {false_alarm_rate:.1%} ({len(alarms)} of {distinct} distinct pairs judged similar)")
    for pair, judged in alarms:
        print(f"    false alarm: {pair['mark_a']} / {pair['mark_b']} ({pair['kind']}: {pair['note']})")
        print(f"      score {judged.score:.2f}: {'; '.join(judged.reasons)}")
    return recall, false_alarm_rate, len(pairs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watched", type=int, default=100_000)
    parser.add_argument("--candidates", type=int, default=2_000)
    parser.add_argument("--planted", type=float, default=0.2, help="share of candidates derived from a watched mark")
    parser.add_argument("--brute-sample", type=int, default=100, help="candidates also checked by brute force")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pairs", type=Path, default=PAIRS, help="the labelled pairs (CSV)")
    parser.add_argument("--holdout", type=Path, default=HOLDOUT, help="the second labelled set, never tuned on")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    recall, false_alarm_rate, pair_count = labelled_set(args.pairs)
    holdout_recall, holdout_false_alarm_rate, holdout_count = labelled_set(args.holdout)

    register = [Mark(any_mark(rng), classes(rng, rng.choice([1, 1, 2, 3])), id=i) for i in range(args.watched)]
    rss_before = rss_mb()
    t0 = time.perf_counter()
    prepared = [prepare(m) for m in register]
    t1 = time.perf_counter()
    index = build_index(prepared)
    t2 = time.perf_counter()
    rss_after = rss_mb()
    print(
        f"register: {len(register)} watched marks; prepare {t1 - t0:.2f} s, index {t2 - t1:.2f} s "
        f"({len(index.hashes)} postings); peak memory {rss_before:.0f} MB before, "
        f"{rss_after:.0f} MB with the prepared marks and the index"
    )

    cores = {p.core for p in prepared}
    candidates: list[tuple[Mark, int | None, str]] = []  # (mark, planted from, kind)
    while len(candidates) < args.candidates:
        if rng.random() < args.planted:
            source = rng.choice(register)
            planted = plant(rng, source.text)
            if planted is None:
                continue
            text, kind = planted
            mark_classes = frozenset({rng.choice(sorted(source.classes))}) | classes(rng, rng.choice([0, 0, 1]))
            candidates.append((Mark(text, mark_classes), source.id, kind))
        else:
            text = any_mark(rng)
            if prepare(Mark(text)).core in cores:
                continue  # the same wording as a watched mark is not "unrelated"
            candidates.append((Mark(text, classes(rng, rng.choice([1, 1, 2]))), None, "fresh"))
    planted_count = sum(source is not None for _, source, _ in candidates)
    print(
        f"candidates: {len(candidates)} ({planted_count} planted look-alikes, {len(candidates) - planted_count} fresh)"
    )

    timings, results = [], []
    for mark, _, _ in candidates:
        start = time.perf_counter()
        found = find_lookalikes(mark, index)
        timings.append((time.perf_counter() - start) * 1000)
        results.append(found)

    sample = candidates[: args.brute_sample]
    brute_timings, same = [], True
    for (mark, _, _), indexed in zip(sample, results, strict=False):
        start = time.perf_counter()
        found = find_lookalikes(mark, prepared)
        brute_timings.append((time.perf_counter() - start) * 1000)
        same = same and found == indexed

    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    fresh_alarms, fresh, alarm_reasons, alarm_levels = 0, 0, Counter(), Counter()
    for (_, source, kind), found in zip(candidates, results, strict=True):
        if source is None:
            fresh += 1
            if found:
                fresh_alarms += 1
                alarm_reasons[found[0].reasons[0].code] += 1
                alarm_levels[found[0].level] += 1
        else:
            totals[kind] += 1
            hits[kind] += any(m.watched_id == source for m in found)
    planted_recall = sum(hits.values()) / max(sum(totals.values()), 1)
    fresh_alarm_rate = fresh_alarms / max(fresh, 1)
    p50, p99, brute_p50 = percentile(timings, 0.5), percentile(timings, 0.99), percentile(brute_timings, 0.5)

    print(f"{'':28}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    print(f"{'with the index':28}{p50:10.3f}{p99:10.3f}{statistics.mean(timings):10.3f}")
    print(
        f"{'brute force (' + str(len(sample)) + ' sampled)':28}{brute_p50:10.3f}"
        f"{percentile(brute_timings, 0.99):10.3f}{statistics.mean(brute_timings):10.3f}"
    )
    print(f"speed-up at p50: x{brute_p50 / p50:.0f}; same matches on the sample: {'yes' if same else 'NO'}")
    print("recall of planted look-alikes by kind:")
    for kind in sorted(totals):
        print(f"  {kind:16} {hits[kind]:4} / {totals[kind]:4}  {hits[kind] / totals[kind]:.3f}")
    print(f"planted recall: {planted_recall:.3f}")
    print(
        f"fresh alarms: {fresh_alarms} of {fresh} fresh candidates ({fresh_alarm_rate:.3f}); "
        f"by best reason {dict(alarm_reasons.most_common())}, by level {dict(alarm_levels.most_common())}"
    )
    print(
        f"similarity: p99_ms={p99:.3f} recall_pct={recall * 100:.1f} false_alarm_pct={false_alarm_rate * 100:.1f} "
        f"p50_ms={p50:.3f} brute_p50_ms={brute_p50:.2f} index_s={t2 - t0:.1f} rss_mb={rss_after:.0f} "
        f"planted_recall_pct={planted_recall * 100:.1f} fresh_alarm_pct={fresh_alarm_rate * 100:.1f} "
        f"pairs={pair_count} holdout_recall_pct={holdout_recall * 100:.1f} "
        f"holdout_false_alarm_pct={holdout_false_alarm_rate * 100:.1f} holdout_pairs={holdout_count}"
    )


if __name__ == "__main__":
    main()
