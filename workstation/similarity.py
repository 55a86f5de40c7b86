"""Look-alike trademarks (商标近似) for the early-warning feature. Pure: marks in, matches with reasons out.

Enterprises watch their own marks; every mark named at intake and every newly published mark of an
imported feed is checked against all watched marks. This module is only the comparison: ``prepare``
each mark once (normalised forms, pinyin, visual skeletons), ``build_index`` over the watched marks,
then ``find_lookalikes(candidate, index)`` per new mark. No database, and no I/O but reading two word lists on
first use (the bilingual lexicon and an English dictionary). ``verdict(a, b)`` judges
one pair of texts the way the notices do (``python -m workstation compare-marks``, for an examiner
checking a verdict by hand).

**What counts as look-alike** follows the examination practice for similar marks (商标审查审理指南,
文字商标近似): the wording is compared after dropping what does not distinguish a mark, then by form,
sound and transliteration. Each rule that fires is a ``Reason`` with its evidence and a fixed score:

=================  =====  ==========================================================================
code               score  when
=================  =====  ==========================================================================
same_text          1.00   the same wording once width, case, accents, spacing, punctuation and
                          generic words (科技, 集团, 有限公司, 牌, tech, group, ltd ...) and the trade of a
                          trade name (电器, 食品, foods, electronics ...) are dropped
visual             0.95   the same but for look-alike characters or letters (师/帅, 大/太, 日/白, rn/m,
                          0/O, 1/l/I, 5/S, 2/Z, vv/w, Cyrillic а/Latin a); 0.90 when only one part of a
                          mixed mark; 0.80 for Latin marks of 4+ letters that differ in one capital one
                          stroke apart (E/F, P/R, C/G, O/Q: Pelix/Relix), unless both are English words
                          (Rain/Pain, Pest/Rest: other words)
sound              0.85   Latin marks that English sounds the same (``sound_key``: ph/f, qu/kw, ck/k,
                          c/s/k, x/ks, y/i, igh, doubled letters, a silent e): Quickmart/Kwikmart,
                          Fotonix/Photonix; a sound of 4+ letters, and not when both are English words
                          (Sell/Cell are homophones with other meanings)
translation        0.85   a Chinese mark translated word for word is a Latin mark's words, or the other
                          way (蓝月/BLUE MOON, 三只熊/THREE BEARS), from a curated lexicon of common mark
                          words (data/mark_words.tsv, ~230 words: colours, animals, the sky, numbers,
                          nature, qualities, emblems); the whole of both marks, never a combined mark's
                          part, and a word the lexicon knows is read whole (银河 galaxy, not silver river)
same_part          0.90   the Chinese part (2+ characters) or the Latin part (3+ letters) of a mixed
                          mark is the same as the other mark's
phonetic           0.90   Chinese parts of 2+ characters read the same in toneless pinyin (星河 and
                          兴和 both xing he; 金龍 and 金龙). One character is never enough: too many
                          single characters share a syllable
transliteration    0.90   Chinese read in pinyin equals the other mark's letters (星河 = XINGHE =
                          Xing He = Xīng Hé), 2+ syllables; 0.95 x the near_text score for one letter off
                          (HUAWEY), unless those letters are themselves the pinyin of as many syllables:
                          CHUNHUA spells 春华, another word, not 春晖 chun hui
near_text          1-d/(L+1)  d characters added, removed, changed or swapped, L the longer length:
                          Chinese with d <= L // 3 (one in 3-5, two in 6+), but a two-character mark
                          only gains or loses one at an end (星河/星河湾; 星河/星光 and 金鱼/金龙鱼 are
                          other words); Latin of 5+ letters with d <= (L - 1) // 4 (one in 5-8, two in
                          9+), never for 4 or fewer (NOVA/NOTA), counted with look-alikes merged and as
                          written
reordered          0.80   the same 3+ Chinese characters in another order (三只松鼠/松鼠三只); two
                          swapped characters usually make another word (京东/东京). Also the same 2+ Latin
                          words (5+ letters) in another order (Blue Ocean / Ocean Blue)
contains           0.75-0.90  the *watched* mark appears whole in the candidate: 2+ Chinese characters,
                          or 3+ letters forming whole words or the start of a word of 5+ letters, also
                          across scripts (星河 in XINGHE PHONE, but not 安心 an xin in ANXING: the word goes
                          on with the syllable). 0.75 + 0.15 x the share of the candidate it covers. The
                          only rule that is not symmetric
=================  =====  ==========================================================================

A ``Match`` has the best score of its reasons and lists all of them (one per code, best evidence).
Every rule is a hard gate, so any reason means look-alike; ``DEFAULT_THRESHOLD`` (0.7) is below the
lowest score a rule gives. Raise it to keep only the stronger kinds (0.85: nothing that rests on a
single edit or a reordering alone).

**Marks made only of generic words** (科技, "Tech Group") match only the identical wording, never as
part of another mark: "科技" alone never matches "星河科技". Generic Chinese words are stripped from
the end of a Chinese run (repeatedly), 中国 from its start; 牌 only if 2+ characters are left (王牌 is a
word). Generic Latin words are whole words, anywhere.

**Classes (Nice, 1-45).** Protection is per class, so where the match is matters as much as how close
it is. ``Match.class_relation`` is ``same`` (a class in common: the strongest warning), ``related``
(classes the ``ClassRule`` lists as related, e.g. 9 and 42), ``unknown`` (either mark has no classes:
nothing to restrict on, like an unstated fact in routing) or ``unrelated``. A match in unrelated
classes counts only if its score is at least ``ClassRule.unrelated_min_score`` (default 0.95: the same
wording or look-alike characters only, the marks a well-known-mark claim could reach). Set it to 0 to
ignore classes, or above 1 to drop unrelated classes entirely. ``Match.level`` (high / medium / low)
sums this up for a notice, and results are sorted by it first, then by score.

**Speed.** ``build_index`` files each watched mark under cheap keys (Chinese character pairs, the
pinyin reading, Latin strings with up to two letters deleted, word prefixes, the English sound, the
word-for-word meanings, the skeleton with one-stroke letters merged), chosen so that every pair
a rule can match shares at least one key: the shortlist is exact, not a heuristic, and the tests check
that indexed and brute-force results are equal. The keys are kept as hashes in two sorted arrays,
12 bytes a posting (sizes measured: benchmarks/README.md). pypinyin is imported on first use (its
import is slow).

**English words** (for the sound and one-stroke rules) are Webster's Second International (234,000
words, the english-words package), loaded on first use like pypinyin.

**Pinyin** is pypinyin's reading in context (银行 yin hang, 长城 chang cheng), one per character: a
mark meant in a rarer reading of a polyphonic character (多音字) is compared in the common one.

Text is capped (the first 32 Chinese characters, 12 words and 40 letters): marks are short, and a
garbage row in a feed must not cost much more than a real mark.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rapidfuzz.distance import OSA, Levenshtein

from workstation.i18n import N_, in_every_language, in_language

#: The lowest score a rule gives is 0.75 (near_text in 3 characters, contains); see the module docstring.
DEFAULT_THRESHOLD = 0.7
#: Same wording or look-alike characters only: what counts in unrelated classes by default.
NEAR_IDENTICAL = 0.95

SAME, RELATED, UNKNOWN, UNRELATED = "same", "related", "unknown", "unrelated"
LEVELS = {SAME: "high", RELATED: "medium", UNKNOWN: "medium", UNRELATED: "low"}
_LEVEL_RANK = {"high": 0, "medium": 1, "low": 2}

NICE_CLASSES = range(1, 46)

#: Pairs of Nice classes whose goods and services are often held similar across the class line (the
#: 类似商品和服务区分表 notes such links between subgroups, e.g. software in class 9 and software services
#: in class 42). A judgement call, small on purpose: pass your own table in ``ClassRule`` for a finer one.
RELATED_CLASSES: frozenset[tuple[int, int]] = frozenset(
    {
        (9, 42),  # software, computers / software design, SaaS
        (9, 38),  # telecom apparatus / telecommunication services
        (3, 5),  # cosmetics / pharmaceuticals
        (5, 44),  # pharmaceuticals / medical services
        (10, 44),  # medical apparatus / medical services
        (18, 25),  # bags, leather goods / clothing
        (25, 26),  # clothing / haberdashery
        (14, 25),  # jewellery, watches / clothing accessories
        (29, 30),  # meat, dairy / staple foods
        (30, 43),  # staple foods / restaurants
        (29, 43),  # meat, dairy / restaurants
        (32, 33),  # soft drinks, beer / alcoholic beverages
        (16, 41),  # printed matter / education, publishing
        (12, 37),  # vehicles / vehicle repair
        (11, 21),  # lighting, kitchen appliances / household utensils
    }
)


@dataclass(frozen=True)
class ClassRule:
    """When a match counts, given the marks' Nice classes (see the module docstring)."""

    related: frozenset[tuple[int, int]] = RELATED_CLASSES
    #: a match between marks in unrelated classes counts only from this score on
    unrelated_min_score: float = NEAR_IDENTICAL


DEFAULT_CLASS_RULE = ClassRule()


# --- marks and their prepared forms ------------------------------------------------------------


@dataclass(frozen=True)
class Mark:
    """A trademark as registered or published: its wording and its Nice classes (1-45)."""

    text: str
    classes: frozenset[int] = frozenset()
    id: int | None = None

    def __post_init__(self) -> None:
        # Raise here, not later: an importer reports a row with a bad class as a bad row.
        classes = frozenset(self.classes)
        bad = sorted((c for c in classes if type(c) is not int or c not in NICE_CLASSES), key=repr)
        if bad:
            raise ValueError(f"not a Nice class (1-45): {', '.join(map(repr, bad))}")
        object.__setattr__(self, "classes", classes)


@dataclass(frozen=True)
class LetterForm:
    """A way the mark is spelt in letters: its Latin words, or its Chinese read in pinyin."""

    source: str  # "latin" | "pinyin"
    text: str  # as shown in evidence: "huawei", "xing he"
    tokens: tuple[str, ...]  # words (or syllables) as visual skeletons
    skeleton: str  # the tokens joined
    #: look-alike letters merged one for one, rn and vv kept: edits are counted on both, since merging
    #: rn into m shortens a word ("herna" is one letter from "hera", "hema" two)
    plain: str = ""
    #: Latin only: the words as English sounds them (``sound_key``), "" if too short or not plain letters
    sound: str = ""
    #: Latin only: the words as the translation rule reads them (``latin_meaning``), "" if any is unknown
    meaning: str = ""
    #: Latin only: ``skeleton`` with letters one stroke apart merged (``one_stroke_skeleton``)
    stroke: str = ""


@dataclass(frozen=True)
class PreparedMark:
    """A mark with everything ``compare`` needs computed once."""

    mark: Mark
    #: the distinctive wording: normalised, generic words dropped, no spaces or punctuation
    core: str
    #: ``core`` with look-alike characters and letters mapped to one representative
    skeleton: str
    han: str
    han_skeleton: str
    #: toneless pinyin of ``han``, one syllable per character (an unknown character stands for itself)
    pinyin: tuple[str, ...]
    forms: tuple[LetterForm, ...]
    #: the mark is generic words only: it matches only the same wording
    generic_only: bool = False
    #: ``han`` translated word for word into English, every way the lexicon allows (``han_meanings``)
    han_meanings: frozenset[str] = frozenset()
    #: what the translation, sound and one-stroke rules compare, as keys: two marks that share none
    #: cannot match by these rules (checked first for every pair, and filed in the index)
    lexical_keys: frozenset[str] = frozenset()

    @property
    def id(self) -> int | None:
        return self.mark.id

    @property
    def text(self) -> str:
        return self.mark.text

    @property
    def classes(self) -> frozenset[int]:
        return self.mark.classes

    @property
    def mixed(self) -> bool:
        """Both Chinese and letters (星河 XINGHE): its parts are compared one by one too."""
        return bool(self.han) and self.han != self.core


# --- normalisation -----------------------------------------------------------------------------

_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_RUNS = re.compile(rf"[{_HAN}]+|[^\W_{_HAN}]+")
_HAN_RUN = re.compile(rf"[{_HAN}]")
# camelCase and HTMLParser-style word boundaries, found before case is folded: XingHe -> Xing He. The
# second kind needs two capitals before it: a single one is the word's own first letter, and splitting
# VVavelet into V Vavelet would hide the vv that looks like w
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z]{2})(?=[A-Z][a-z])")

MAX_HAN = 32
MAX_WORDS = 12
MAX_LETTERS = 40

#: Dropped from the end of a run of Chinese (repeatedly), longest first. They say what kind of business
#: or sign it is, not whose: two marks that share only these are not similar.
GENERIC_HAN_SUFFIXES = tuple(
    sorted(
        {
            "股份有限公司", "有限责任公司", "有限公司", "集团公司", "集团", "控股", "股份", "公司",
            "科技", "技术", "网络", "信息", "电子商务", "电子", "实业", "贸易", "国际", "品牌",
            "商标", "商行", "商贸", "旗舰店", "专卖店", "官方", "工作室", "研究院", "研究所", "中心",
            # the trade of a trade name (字号 + 行业 + 组织形式): 星河电器 is 星河 making appliances. Not
            # words that end ordinary words (生物 in 微生物, 能源 in 新能源)
            "电器", "电气", "食品", "饮品", "服饰", "服装", "家居", "餐饮", "传媒", "文化", "物流",
            "医药", "药业", "制药", "酒业", "茶业", "建材", "置业", "房地产", "教育", "咨询", "软件",
            "通信",
        },
        key=len,
        reverse=True,
    )
)  # fmt: skip
#: Dropped from the start of the first run of Chinese.
GENERIC_HAN_PREFIXES = ("中国",)
#: "X牌" is "brand X", but 王牌 is a word: dropped only if 2+ characters are left.
_BRAND_SUFFIX = "牌"
#: Whole Latin words dropped anywhere.
GENERIC_LATIN = frozenset(
    {
        "tech", "technology", "technologies", "group", "co", "ltd", "limited", "inc", "corp",
        "corporation", "company", "llc", "gmbh", "plc", "holding", "holdings", "international",
        "intl", "brand", "trademark", "tm", "official", "store", "shop", "the",
        # the trade of a trade name, as in Chinese (not food, farm, home: parts of ordinary phrases)
        "foods", "farms", "electronics", "pharma", "pharmaceuticals", "apparel", "logistics", "media",
        "software", "systems", "solutions", "industries", "trading", "enterprises", "services",
    }
)  # fmt: skip

#: Chinese characters told apart by a stroke or a dot; each group maps to its first character.
HAN_CONFUSABLE_GROUPS = (
    "师帅", "大太犬", "天夭", "日曰白", "土士", "未末", "己已巳", "人入", "刀力", "王玉主", "木术",
    "干于千", "免兔", "田由甲申", "贝见", "戊戌戍", "侯候", "乌鸟", "汩汨", "徽微", "晴睛", "崇祟",
    "牛午", "今令", "拔拨", "折拆", "苦若", "即既", "贷货", "喝渴", "辨辩辫", "竟竞", "茶荼", "母毋", "子了",
)  # fmt: skip
_HAN_SKELETON = str.maketrans({c: group[0] for group in HAN_CONFUSABLE_GROUPS for c in group[1:]})
#: Letters that look alike once case is folded (I and l both become l), and Cyrillic / Greek homoglyphs.
_LETTER_SKELETON = str.maketrans(
    {
        "0": "o", "1": "l", "i": "l", "v": "u", "5": "s", "2": "z",
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "у": "y", "к": "k", "м": "m",
        "т": "t", "і": "l", "ο": "o", "α": "a", "ν": "u", "ρ": "p", "τ": "t", "ι": "l", "κ": "k",
    }
)  # fmt: skip


def _fold(text: str) -> str:
    """NFKC (full width, ™ -> TM), accents dropped (Xīng Hé -> Xing He), camelCase split."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    text = unicodedata.normalize("NFKC", text)
    return _CAMEL.sub(" ", text)


def letter_skeleton(word: str) -> str:
    """A casefolded word with look-alike letters merged: rn -> m, vv -> w, 0 -> o, 1/i -> l, v -> u,
    5 -> s, 2 -> z."""
    return word.replace("rn", "m").replace("vv", "w").translate(_LETTER_SKELETON)


def _plain(word: str) -> str:
    return word.translate(_LETTER_SKELETON)


def han_skeleton(text: str) -> str:
    return text.translate(_HAN_SKELETON)


def _strip_han(run: str, first: bool) -> str:
    if first:
        for prefix in GENERIC_HAN_PREFIXES:
            if run.startswith(prefix) and len(run) > len(prefix):
                run = run[len(prefix) :]
    changed = True
    while changed:
        changed = False
        for suffix in GENERIC_HAN_SUFFIXES:
            if run.endswith(suffix):
                run, changed = run[: -len(suffix)], True
                break
        if not changed and run.endswith(_BRAND_SUFFIX) and len(run) >= 3:
            run, changed = run[:-1], True
    return run


# --- English sound, translations and letters one stroke apart ----------------------------------

#: How English spelling writes one sound several ways, as (pattern, replacement) applied in order to a
#: casefolded word: Fotonix and Photonix both sound "fotoniks", Quickmart and Kwikmart "kwikmart".
#: Written by hand rather than taken from Metaphone or NYSIIS, which keep only the consonants' skeleton
#: (Lemon and Lumen, Nova and Navy get one code): a mark's vowels are half of how it sounds, so they
#: are kept, and only spellings of the same sound are merged.
_SOUND_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"^x(?=[^aeiouy])", "eks"),  # Xpress = Express
        (r"^x", "z"),  # Xeno
        (r"ph", "f"),
        (r"igh", "ai"),  # bright = brait, night = nite (below)
        (r"(?<!^)y", "i"),  # Smyle = Smile, Fysio; a first y is a consonant (Yoga)
        (r"i([^aeiou])e(?=[^aeiou]|$)", r"ai\1"),  # the silent e that lengthens i: nite = night
        (r"qu", "kw"),
        (r"q", "k"),
        (r"ck", "k"),
        (r"ch(?=[^aeiouh])", "k"),  # Greek ch before a consonant: Techno = Tekno, Chrome
        (r"c(?=[eiy])", "s"),  # Citrus = Sitrus
        (r"c(?!h)", "k"),  # Crystal = Krystal
        (r"x", "ks"),  # Luxon = Lukson
        (r"wh", "w"),
        (r"^wr", "r"),
        (r"^kn", "n"),
        (r"^ps", "s"),
        (r"z", "s"),  # Eazy = Easy
        (r"ee|ea", "i"),
        (r"oo", "u"),
        (r"(?<=[^aeiou])e$", ""),  # a final silent e: Freshe = Fresh
        (r"(.)\1+", r"\1"),  # doubled letters: Sunnyvale = Sunivale
    )
)
#: Shorter sound keys are too common to tell marks apart (cell / sell, both "sel").
MIN_SOUND_KEY = 4


@functools.lru_cache(maxsize=65536)
def sound_key(word: str) -> str:
    """How English would sound a casefolded word, as letters (``_SOUND_RULES``); "" if it is not
    plain Latin letters (digits and look-alikes are the visual rules' business)."""
    if not (word.isascii() and word.isalpha()):
        return ""
    for pattern, replacement in _SOUND_RULES:
        word = pattern.sub(replacement, word)
    return word


LEXICON_FILE = Path(__file__).with_name("data") / "mark_words.tsv"
#: English words a translation of a mark leaves out.
_ENGLISH_FILLERS = frozenset({"a", "an", "of", "and"})
#: Chinese marks longer than this are not translated word for word (a phrase, not a mark's words).
_MAX_TRANSLATED_HAN = 8
#: At most this many readings of one Chinese mark (a character with several renderings multiplies them).
_MAX_MEANINGS = 32


@functools.cache
def lexicon() -> dict[str, tuple[tuple[str, ...], ...]]:
    """The bilingual word list (``LEXICON_FILE``): each Chinese word and its English renderings, each
    rendering as its words; a word a translation leaves out has the one empty rendering."""
    found: dict[str, tuple[tuple[str, ...], ...]] = {}
    for line in LEXICON_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        chinese, english = line.split("\t")
        renderings = tuple(() if r.strip() == "-" else tuple(r.split()) for r in english.split(","))
        found[chinese.strip()] = renderings
    return found


@functools.cache
def _english_vocabulary() -> frozenset[str]:
    return frozenset(word for renderings in lexicon().values() for r in renderings for word in r)


def _segmentations(han: str) -> list[list[str]]:
    """``han`` cut into lexicon words, in the fewest pieces (a word the lexicon knows, such as 银河
    galaxy, is read as itself, not as 银 silver + 河 river); [] if some character is not covered."""
    words = lexicon()
    # best[i]: the fewest pieces covering han[:i] and the ways to do it (a few at most)
    best: list[tuple[int, list[list[str]]]] = [(0, [[]])] + [(len(han) + 1, [])] * len(han)
    for end in range(1, len(han) + 1):
        for start in range(max(0, end - 4), end):
            piece = han[start:end]
            if piece not in words or not best[start][1]:
                continue
            count = best[start][0] + 1
            ways = [way + [piece] for way in best[start][1]]
            if count < best[end][0]:
                best[end] = (count, ways[:4])
            elif count == best[end][0]:
                best[end] = (count, (best[end][1] + ways)[:4])
    return best[-1][1]


@functools.lru_cache(maxsize=65536)
def han_meanings(han: str) -> frozenset[str]:
    """Every word-for-word English reading of a Chinese mark, each as its words sorted and joined:
    蓝月 -> {"blue moon"}, 金狮 -> {"gold lion", "golden lion"}. Empty if some character is not in the
    lexicon (only a translation of the whole mark counts) or the mark is long."""
    if len(han) > _MAX_TRANSLATED_HAN:
        return frozenset()
    words = lexicon()
    found: set[str] = set()
    for pieces in _segmentations(han):
        for combination in itertools.product(*(words[piece] for piece in pieces)):
            english = sorted(word for rendering in combination for word in rendering)
            if english:
                found.add(" ".join(english))
            if len(found) >= _MAX_MEANINGS:
                return frozenset(found)
    return frozenset(found)


def latin_meaning(words: Sequence[str]) -> str:
    """Latin words as the translation rule compares them (plurals made singular, a/an/of/and left
    out, sorted and joined): "Three Bears" -> "bear three". "" if a word is not in the lexicon."""
    vocabulary = _english_vocabulary()
    found = []
    for word in words:
        if word in _ENGLISH_FILLERS:
            continue
        bases = [word]  # as written, then without a plural ending: stories -> story, foxes -> fox, stars -> star
        if word.endswith("ies"):
            bases.append(word[:-3] + "y")
        if word.endswith("es"):
            bases.append(word[:-2])
        if word.endswith("s"):
            bases.append(word[:-1])
        singular = next((base for base in bases if base in vocabulary), None)
        if singular is None:
            return ""
        found.append(singular)
    return " ".join(sorted(found))


#: Capital letters one stroke apart (E/F, P/R, C/G, O/Q), merged to the first.
ONE_STROKE_PAIRS = ("ef", "pr", "cg", "oq")
_ONE_STROKE = str.maketrans({b: a for a, b in ONE_STROKE_PAIRS})


def one_stroke_skeleton(skeleton: str) -> str:
    return skeleton.translate(_ONE_STROKE)


def _one_stroke_apart(a: str, b: str) -> str:
    """The pair ("E/F") if the skeletons ``a`` and ``b`` (4+ letters) differ in one letter only, one
    stroke apart from the other; else ""."""
    if len(a) != len(b) or len(a) < 4 or one_stroke_skeleton(a) != one_stroke_skeleton(b):
        return ""
    differences = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
    return f"{differences[0][0].upper()}/{differences[0][1].upper()}" if len(differences) == 1 else ""


@functools.cache
def _english_words() -> frozenset[str]:
    """An English dictionary (Webster's Second, 234,000 words, from english-words), loaded on first
    use (0.3 s, some 25 MB): it tells a real word from an invented mark."""
    from english_words import get_english_words_set

    return frozenset(get_english_words_set(["web2"], lower=True))


def _english_words_only(text: str) -> bool:
    """Every word of ``text`` (a Latin form's words) is an English word: two such marks that sound
    alike (Sell / Cell) or are a stroke apart (Rain / Pain) are other words with other meanings."""
    return all(word in _english_words() for word in text.split())


@functools.lru_cache(maxsize=65536)
def _pinyin(han: str) -> tuple[str, ...]:
    """Toneless pinyin, the reading chosen in context (银行 yin hang); ü is written v (绿 lv)."""
    from pypinyin import Style, lazy_pinyin  # ~0.5 s to import: only when first needed

    syllables = lazy_pinyin(han, style=Style.NORMAL, errors=lambda chars: list(chars))
    return tuple(syllables) if len(syllables) == len(han) else tuple(han)


def _capped(parts: list[tuple[bool, str]]) -> list[tuple[bool, str]]:
    """The first MAX_HAN Chinese characters and MAX_WORDS words (MAX_LETTERS letters in all)."""
    out, han, words, letters = [], 0, 0, 0
    for is_han, text in parts:
        if is_han:
            text = text[: MAX_HAN - han]
            han += len(text)
        else:
            if words == MAX_WORDS:
                continue
            text = text[: MAX_LETTERS - letters]
            words, letters = words + 1, letters + len(text)
        if text:
            out.append((is_han, text))
    return out


def prepare(mark: Mark) -> PreparedMark:
    """The forms ``compare`` works on. Never raises on any text; a mark with no letters or characters
    (only punctuation or symbols) gets an empty core and matches nothing."""
    runs = _RUNS.findall(_fold(mark.text[: 16 * MAX_HAN]))
    parts: list[tuple[bool, str]] = []  # (is_han, text), in order
    first_han = True
    for run in runs:
        if _HAN_RUN.match(run):
            parts.append((True, run))
        else:
            parts.extend((False, word) for word in run.casefold().split())
    everything = "".join(text for _, text in parts)
    kept: list[tuple[bool, str]] = []
    for is_han, text in parts:
        if is_han:
            text = _strip_han(text, first_han)
            first_han = False
            if text:
                kept.append((True, text))
        elif text not in GENERIC_LATIN:
            kept.append((False, text))
    if not kept:
        return PreparedMark(mark, everything, everything, "", "", (), (), generic_only=bool(everything))
    kept = _capped(kept)
    han = "".join(text for is_han, text in kept if is_han)
    words = [text for is_han, text in kept if not is_han]
    core = "".join(text for _, text in kept)
    skeleton = "".join(han_skeleton(text) if is_han else letter_skeleton(text) for is_han, text in kept)
    pinyin = _pinyin(han) if han else ()
    forms = []
    if words:
        tokens = tuple(letter_skeleton(w) for w in words)
        sounds = [sound_key(w) for w in words]
        sound = "".join(sounds) if all(sounds) else ""
        forms.append(
            LetterForm(
                "latin",
                " ".join(words),
                tokens,
                "".join(tokens),
                _plain("".join(words)),
                sound if len(sound) >= MIN_SOUND_KEY else "",
                latin_meaning(words),
                one_stroke_skeleton("".join(tokens)),
            )
        )
    if len(pinyin) >= 2 and all(s.isascii() and s.isalpha() for s in pinyin):
        tokens = tuple(letter_skeleton(s) for s in pinyin)
        forms.append(LetterForm("pinyin", " ".join(pinyin), tokens, "".join(tokens), _plain("".join(pinyin))))
    meanings = han_meanings(han) if han else frozenset()
    lexical = _lexical_keys(meanings, forms)
    return PreparedMark(
        mark, core, skeleton, han, han_skeleton(han), pinyin, tuple(forms), han_meanings=meanings, lexical_keys=lexical
    )


def _lexical_keys(meanings: frozenset[str], forms: Sequence[LetterForm]) -> frozenset[str]:
    keys = {"T:" + meaning for meaning in meanings}
    for form in forms:
        if form.source == "latin":
            keys |= {"T:" + form.meaning} if form.meaning else set()
            keys |= {"S:" + form.sound} if form.sound else set()
            keys |= {"O:" + form.stroke} if len(form.stroke) >= 4 else set()
    return frozenset(keys)


# --- comparing two marks -----------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """One rule that fired, with what it saw in each mark (the forms compared, e.g. both pinyin)."""

    code: str
    score: float
    watched: str
    candidate: str
    #: e.g. the look-alike characters ("师/帅"), the edit distance, or "transliteration" for contains
    detail: str = ""


@dataclass(frozen=True)
class Match:
    watched_id: int | None
    watched_text: str
    candidate_text: str
    score: float
    #: best first, one per code
    reasons: tuple[Reason, ...]
    class_overlap: frozenset[int]
    class_relation: str

    @property
    def level(self) -> str:
        """How strong a warning: high (a class in common), medium (related or unknown), low (unrelated)."""
        return LEVELS[self.class_relation]

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)


def _near(a: str, b: str, *, han: bool) -> tuple[int, float] | None:
    """(edits, score) if ``a`` and ``b`` are within the allowed number of edits, else None."""
    longest, shortest = max(len(a), len(b)), min(len(a), len(b))
    if han:
        if shortest < 2 or longest < 3:
            return None
        if shortest == 2 and a not in b and b not in a:
            return None  # 金鱼 / 金龙鱼: a character inside a two-character word makes another word
        allowed = min(2, longest // 3)
    else:
        if longest < 5:
            return None
        allowed = min(2, (longest - 1) // 4)
    if abs(len(a) - len(b)) > allowed:
        return None
    edits = OSA.distance(a, b, score_cutoff=allowed)
    return (edits, 1 - edits / (longest + 1)) if edits <= allowed else None


def _near_letters(a: LetterForm, b: LetterForm) -> tuple[int, float] | None:
    near = _near(a.skeleton, b.skeleton, han=False)
    if a.plain != a.skeleton or b.plain != b.skeleton:
        other = _near(a.plain, b.plain, han=False)
        if other and (not near or other[1] > near[1]):
            near = other
    return near


@functools.cache
def _pinyin_syllables() -> frozenset[str]:
    """Every toneless pinyin syllable pypinyin knows (ü as v, and as u), without the vowelless
    interjections (m, n, ng, hm), which would let almost any spelling be cut into syllables."""
    from pypinyin import Style
    from pypinyin.pinyin_dict import pinyin_dict
    from pypinyin.style import convert

    found: set[str] = set()
    for readings in pinyin_dict.values():
        for reading in readings.split(","):
            syllable = convert(reading, Style.NORMAL, strict=True)
            if syllable.isascii() and any(vowel in syllable for vowel in "aeiouv"):
                found |= {syllable, syllable.replace("v", "u")}
    return frozenset(found)


@functools.cache
def _pinyin_skeletons() -> frozenset[str]:
    return frozenset(letter_skeleton(syllable) for syllable in _pinyin_syllables())


@functools.lru_cache(maxsize=65536)
def _reads_as_pinyin(letters: str, syllables: int) -> bool:
    """``letters`` can be cut into exactly ``syllables`` pinyin syllables."""
    known = _pinyin_syllables()
    counts: list[set[int]] = [set() for _ in range(len(letters) + 1)]
    counts[0].add(0)
    for start in range(len(letters)):
        if not counts[start]:
            continue
        for end in range(start + 1, min(start + 6, len(letters)) + 1):
            if letters[start:end] in known:
                counts[end] |= {n + 1 for n in counts[start] if n < syllables}
    return syllables in counts[-1]


def _another_word(a: LetterForm, b: LetterForm) -> bool:
    """Of a Chinese mark's pinyin and a Latin spelling one letter off it: the spelling is itself the
    pinyin of as many syllables, so it spells another Chinese word (CHUNHUA is 春华, not 春晖 chun hui),
    not a misspelt transliteration (HUAWEY for 华为: wey is no syllable)."""
    latin, pinyin = (a, b) if a.source == "latin" else (b, a)
    return _reads_as_pinyin(latin.text.replace(" ", ""), len(pinyin.tokens))


def _covers(part: str, whole: str) -> float:
    return 0.75 + 0.15 * len(part) / len(whole)


def _runs_on(syllable: str, rest: str) -> bool:
    """The letters after a pinyin that starts a word carry its last syllable on into another one:
    an xin at the start of ANXING reads an xing, another word (both as visual skeletons)."""
    known = _pinyin_skeletons()
    return bool(syllable) and any(syllable + rest[:n] in known for n in range(1, min(len(rest), 6 - len(syllable)) + 1))


def _in_tokens(
    needle: str, tokens: tuple[str, ...], *, prefix_ok: bool, min_tokens: int, last_syllable: str = ""
) -> bool:
    """``needle`` is whole words of ``tokens`` (at least ``min_tokens``), or, when ``prefix_ok`` and
    it has 5+ letters, the start of a word: apple in "apple store" and "applestore", not "pineapple".
    A pinyin ``needle`` (``last_syllable`` given) is not the start of a word that goes on with the same
    syllable (an xin in anxing)."""
    whole = "".join(tokens)
    for i in range(len(tokens)):
        joined = ""
        for j in range(i, len(tokens)):
            joined += tokens[j]
            if len(joined) >= len(needle):
                if joined == needle and j - i + 1 >= min_tokens and joined != whole:
                    return True
                if (
                    prefix_ok
                    and len(needle) >= 5
                    and joined.startswith(needle)
                    and joined != needle
                    and not _runs_on(last_syllable, joined[len(needle) :])
                ):
                    return True
                break
    return False


def _reordered_words(a: LetterForm, b: LetterForm) -> bool:
    """The same 2+ Latin words (5+ letters in all) in another order: Blue Ocean / Ocean Blue."""
    return (
        a.source == b.source == "latin"
        and len(a.tokens) >= 2
        and len(a.skeleton) >= 5
        and a.tokens != b.tokens
        and sorted(a.tokens) == sorted(b.tokens)
    )


def _differences(a: str, b: str) -> str:
    """What differs, as "watched/candidate" pieces: 师/帅, m/rn, oo/00."""
    pieces: list[tuple[int, int, int, int]] = []
    for tag, i1, i2, j1, j2 in Levenshtein.opcodes(a, b):
        if tag == "equal":
            continue
        if pieces and pieces[-1][1] == i1 and pieces[-1][3] == j1:  # adjacent edits are one piece
            i1, j1 = pieces.pop()[::2]
        pieces.append((i1, i2, j1, j2))
    return ", ".join(f"{a[i1:i2]}/{b[j1:j2]}" for i1, i2, j1, j2 in pieces)


def _meaning_and_sound(w: PreparedMark, c: PreparedMark) -> Iterator[Reason]:
    """The rules that read the Latin words (see the module docstring): the Chinese of one mark
    translated word for word is the other's words (蓝月 / BLUE MOON); two Latin marks sound the same
    in English (Quickmart / Kwikmart) or are one stroke apart (Pelix / Relix). Neither of the last
    two when both marks are English words only: Sell / Cell and Rain / Pain are other words."""
    # whole marks only: the Chinese of a combined mark is usually its Latin part's translation, and
    # one part of each matching across (星河 GALAXY / 银河 COSMOS) is not the marks meaning the same
    if not (w.mixed or c.mixed):
        for one, other in ((w, c), (c, w)):
            for form in other.forms:
                if form.meaning and form.meaning in one.han_meanings:
                    pair = (one.han, form.text) if one is w else (form.text, one.han)
                    yield Reason("translation", 0.85, *pair, form.meaning)
    for fw in w.forms:
        for fc in c.forms:
            if fw.source != "latin" or fc.source != "latin" or fw.skeleton == fc.skeleton:
                continue
            same_sound = bool(fw.sound) and fw.sound == fc.sound
            stroke = _one_stroke_apart(fw.skeleton, fc.skeleton) if fw.stroke == fc.stroke else ""
            if (same_sound or stroke) and not (_english_words_only(fw.text) and _english_words_only(fc.text)):
                if same_sound:
                    yield Reason("sound", 0.85, fw.text, fc.text, fw.sound)
                if stroke:
                    yield Reason("visual", 0.8, fw.text, fc.text, stroke)


def _reasons(w: PreparedMark, c: PreparedMark) -> list[Reason]:
    if not w.core or not c.core:
        return []
    if w.core == c.core:
        return [Reason("same_text", 1.0, w.core, c.core)]
    if w.generic_only or c.generic_only:
        return []
    found: list[Reason] = []
    if w.skeleton == c.skeleton:
        found.append(Reason("visual", 0.95, w.core, c.core, _differences(w.core, c.core)))
    mixed = w.mixed or c.mixed
    a, b = w.han_skeleton, c.han_skeleton
    if a and b:
        if mixed and len(a) >= 2 and w.han == c.han:
            found.append(Reason("same_part", 0.9, w.han, c.han))
        elif mixed and len(a) >= 2 and a == b:
            found.append(Reason("visual", 0.9, w.han, c.han, _differences(w.han, c.han)))
        if a != b:
            near = _near(a, b, han=True)
            if near:
                found.append(Reason("near_text", near[1], w.han, c.han, f"{near[0]} edit(s)"))
            if len(a) >= 3 and sorted(a) == sorted(b):
                found.append(Reason("reordered", 0.8, w.han, c.han))
        if len(w.pinyin) >= 2 and w.pinyin == c.pinyin and w.han != c.han:
            found.append(Reason("phonetic", 0.9, " ".join(w.pinyin), " ".join(c.pinyin)))
        if len(a) >= 2 and len(b) > len(a) and a in b:
            found.append(Reason("contains", _covers(a, b), w.han, c.han))
    for fw in w.forms:
        for fc in c.forms:
            if fw.source == fc.source == "pinyin":
                continue  # the same reading is the phonetic rule; a pinyin inside a pinyin is too weak
            translit = fw.source != fc.source
            if fw.skeleton == fc.skeleton:
                if translit:
                    found.append(Reason("transliteration", 0.9, fw.text, fc.text))
                elif mixed and len(fw.skeleton) >= 3:
                    code = "same_part" if fw.text == fc.text else "visual"
                    found.append(Reason(code, 0.9, fw.text, fc.text))
            else:
                near = _near_letters(fw, fc)
                if near and (not translit or (near[0] <= 1 and not _another_word(fw, fc))):
                    code, factor = ("transliteration", 0.95) if translit else ("near_text", 1.0)
                    found.append(Reason(code, near[1] * factor, fw.text, fc.text, f"{near[0]} edit(s)"))
            if _reordered_words(fw, fc):
                found.append(Reason("reordered", 0.8, fw.text, fc.text))
            if len(fw.skeleton) >= 3 and _in_tokens(
                fw.skeleton,
                fc.tokens,
                prefix_ok=fc.source == "latin",
                min_tokens=2 if fc.source == "pinyin" else 1,
                last_syllable=fw.tokens[-1] if fw.source == "pinyin" else "",
            ):
                detail = "transliteration" if translit else ""
                found.append(Reason("contains", _covers(fw.skeleton, fc.skeleton), fw.text, fc.text, detail))
    if not w.lexical_keys.isdisjoint(c.lexical_keys):
        found.extend(_meaning_and_sound(w, c))
    best: dict[str, Reason] = {}
    for reason in found:
        if reason.code not in best or reason.score > best[reason.code].score:
            best[reason.code] = reason
    return sorted(best.values(), key=lambda r: (-r.score, r.code))


def class_relation(a: frozenset[int], b: frozenset[int], rule: ClassRule = DEFAULT_CLASS_RULE) -> str:
    if not a or not b:
        return UNKNOWN
    if a & b:
        return SAME
    if any((x, y) in rule.related or (y, x) in rule.related for x in a for y in b):
        return RELATED
    return UNRELATED


def compare(
    watched: PreparedMark,
    candidate: PreparedMark,
    threshold: float = DEFAULT_THRESHOLD,
    rule: ClassRule = DEFAULT_CLASS_RULE,
) -> Match | None:
    """The look-alike match of ``candidate`` against ``watched``, or None if it does not count.

    Symmetric in score, reasons and classes except for ``contains``, which looks for the watched
    mark inside the candidate only.
    """
    reasons = _reasons(watched, candidate)
    if not reasons or reasons[0].score < threshold:
        return None
    relation = class_relation(watched.classes, candidate.classes, rule)
    if relation == UNRELATED and reasons[0].score < rule.unrelated_min_score:
        return None
    return Match(
        watched_id=watched.id,
        watched_text=watched.text,
        candidate_text=candidate.text,
        score=round(reasons[0].score, 4),
        reasons=tuple(reasons),
        class_overlap=watched.classes & candidate.classes,
        class_relation=relation,
    )


# --- the index and the search ------------------------------------------------------------------


def _deletions(word: str, depth: int) -> set[str]:
    """``word`` with up to ``depth`` letters deleted: two strings within d edits share one (SymSpell)."""
    found, frontier = {word}, {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        found |= frontier
    return found


def _depth(length: int, source: str) -> int:
    # The most edits ``_near`` can allow with a partner of any length (a partner within that many).
    if length <= 3:
        return 0
    return 1 if length <= 6 or source == "pinyin" else 2


def _letter_variants(form: LetterForm, depth: Callable[[int, str], int]) -> set[str]:
    found = _deletions(form.skeleton, depth(len(form.skeleton), form.source))
    if form.plain != form.skeleton:
        found |= _deletions(form.plain, depth(len(form.plain), form.source))
    return found


def _han_keys(p: PreparedMark) -> set[str]:
    a = p.han_skeleton
    if len(a) == 1:
        return {"H1:" + a}
    # unordered pairs of characters 1 and 2 apart: the edits near_text accepts always leave one such
    # pair shared, and a contained mark shares all of its own; a reordering shares the sorted characters
    keys = {"H2:" + "".join(sorted((a[i], a[k]))) for i in range(len(a)) for k in (i + 1, i + 2) if k < len(a)}
    if len(a) >= 3:
        keys.add("HS:" + "".join(sorted(a)))
    return keys


def _word_set_key(p: PreparedMark) -> set[str]:
    """The Latin words in any order: marks with the same words reordered share it."""
    latin = [form for form in p.forms if form.source == "latin" and len(form.tokens) >= 2]
    return {"WS:" + " ".join(sorted(form.tokens)) for form in latin}


def _shared_keys(p: PreparedMark) -> set[str] | None:
    """The keys a watched mark is filed under and a candidate looks up alike (the same wording,
    Chinese characters, pinyin, the word set); None when the mark has nothing else to add."""
    if not p.core:
        return None
    keys = {"G:" + p.core}  # the same wording, whatever it is made of
    if p.generic_only:
        return keys
    keys |= _han_keys(p) if p.han else set()
    if len(p.pinyin) >= 2:
        keys.add("PX:" + " ".join(p.pinyin))
    return keys | p.lexical_keys | _word_set_key(p)


def _published_keys(p: PreparedMark) -> set[str]:
    """Keys a watched mark is filed under."""
    keys = _shared_keys(p)
    if keys is None or p.generic_only:
        return keys or set()
    for form in p.forms:
        space = "D:" if form.source == "latin" else "E:"
        keys |= {space + v for v in _letter_variants(form, _depth)}
        if len(form.skeleton) >= 3:
            keys.add(("CL:" if form.source == "latin" else "CP:") + form.skeleton[:4])
    return keys


def _probe_keys(p: PreparedMark) -> set[str]:
    """Keys to look up for a candidate: the matching counterpart of every published key."""
    keys = _shared_keys(p)
    if keys is None or p.generic_only:
        return keys or set()
    for form in p.forms:
        keys |= {"D:" + v for v in _letter_variants(form, _depth)}  # against watched Latin
        if form.source == "latin":  # against watched pinyin: one edit at most
            keys |= {"E:" + v for v in _letter_variants(form, lambda n, _: min(1, _depth(n, "latin")))}
        spaces = ("CL:", "CP:") if form.source == "latin" else ("CL:",)
        keys |= {space + start for space in spaces for start in _skeleton_starts(form.tokens)}
    return keys


def _skeleton_starts(tokens: Sequence[str]) -> set[str]:
    """The first four letters of the skeleton from each token on, and every shorter run of whole
    tokens: what a watched mark's ``CL:``/``CP:`` key can be when words are added or dropped."""
    starts: set[str] = set()
    for i in range(len(tokens)):
        rest = "".join(tokens[i:])
        if len(rest) >= 4:
            starts.add(rest[:4])
        joined = ""
        for token in tokens[i:]:
            joined += token
            if len(joined) >= 4:
                break
            starts.add(joined)
    return starts


@dataclass(frozen=True, eq=False)
class WatchIndex:
    """The watched marks and their keys; build with ``build_index``, rebuild on change.

    The postings are two flat arrays sorted together, a hash of each key and the position of a watched
    mark filed under it (12 bytes a posting), not a dict of strings, which takes many times the memory
    (figures in benchmarks/README.md). A hash collision only puts one more mark on
    a shortlist, which ``compare`` then turns down: the shortlist stays exact.
    """

    marks: tuple[PreparedMark, ...]
    hashes: array = field(repr=False)
    positions: array = field(repr=False)

    def __len__(self) -> int:
        return len(self.marks)

    def shortlist(self, candidate: PreparedMark) -> list[PreparedMark]:
        """The watched marks that share a key with ``candidate``: all that any rule could match."""
        hashes, found = self.hashes, set()
        for key in {hash(key) for key in _probe_keys(candidate)}:
            first = bisect_left(hashes, key)
            found.update(self.positions[first : bisect_right(hashes, key, first)])
        return [self.marks[i] for i in sorted(found)]


def build_index(watched: Iterable[PreparedMark | Mark]) -> WatchIndex:
    marks = tuple(m if isinstance(m, PreparedMark) else prepare(m) for m in watched)
    # one int per posting, the hash above the position, so that one sort orders both
    postings = sorted(
        (hash(key) << 32) | position for position, mark in enumerate(marks) for key in _published_keys(mark)
    )
    hashes = array("q", (p >> 32 for p in postings))
    positions = array("I", (p & 0xFFFFFFFF for p in postings))  # 4 bytes: up to 4 billion watched marks
    return WatchIndex(marks, hashes, positions)


def _sort_key(match: Match) -> tuple:
    return (_LEVEL_RANK[match.level], -match.score, match.watched_id is None, match.watched_id or 0)


def find_lookalikes(
    candidate: Mark | PreparedMark,
    watched: WatchIndex | Sequence[PreparedMark],
    threshold: float = DEFAULT_THRESHOLD,
    rule: ClassRule = DEFAULT_CLASS_RULE,
) -> list[Match]:
    """Every watched mark ``candidate`` looks like, strongest warning first (level, then score).

    With a ``WatchIndex`` only the shortlist is compared; with a plain sequence, every mark (the
    same result, slower: the brute-force baseline).
    """
    prepared = candidate if isinstance(candidate, PreparedMark) else prepare(candidate)
    pool = watched.shortlist(prepared) if isinstance(watched, WatchIndex) else watched
    matches = [m for w in pool if (m := compare(w, prepared, threshold, rule)) is not None]
    return sorted(matches, key=_sort_key)


# --- messages ----------------------------------------------------------------------------------

#: Why two marks look alike, as English msgids the catalogs translate; formatted with a ``Reason``'s
#: fields (``watched``, ``candidate``, ``detail``).
REASONS: dict[str, str] = {
    "same_text": N_(
        "same wording: “%(watched)s” and “%(candidate)s” (ignoring case, spacing, punctuation and generic words)"
    ),
    "same_part": N_("the same part in a combined mark: “%(watched)s” and “%(candidate)s”"),
    "visual": N_("visually similar: “%(watched)s” and “%(candidate)s” (look-alike characters: %(detail)s)"),
    "near_text": N_("nearly the same wording: “%(watched)s” and “%(candidate)s” differ in a single character or two"),
    "reordered": N_("the same characters or words in another order: “%(watched)s” and “%(candidate)s”"),
    "phonetic": N_("same pronunciation: both read %(watched)s in pinyin (%(candidate)s)"),
    "transliteration": N_("Chinese and its pinyin or transliteration: %(watched)s and %(candidate)s"),
    "contains": N_("contains the watched mark: “%(watched)s” appears in “%(candidate)s”"),
    "translation": N_("a translation: “%(watched)s” and “%(candidate)s” mean the same, word for word"),
    "sound": N_("the same sound in English: “%(watched)s” and “%(candidate)s” both sound like “%(detail)s”"),
}


class _ReasonTexts(Mapping[str, dict[str, str]]):
    """Each reason's template in every language, from the catalogs (read when asked for, not at import)."""

    def __getitem__(self, code: str) -> dict[str, str]:
        return in_every_language(REASONS[code])

    def __iter__(self) -> Iterator[str]:
        return iter(REASONS)

    def __len__(self) -> int:
        return len(REASONS)


#: ``{code: {"zh": template, "en": template}}``, the templates taking ``%(watched)s`` etc.
REASON_TEXT: Mapping[str, dict[str, str]] = _ReasonTexts()


def reason_text(code: str, language: str, watched: str, candidate: str, detail: str | None = None) -> str:
    """One reason as a sentence in ``language``."""
    return in_language(REASONS[code], language, watched=watched, candidate=candidate, detail=detail or "-")


def explain(match: Match, language: str = "zh") -> list[str]:
    """One sentence per reason, best first, in ``language`` ("zh" or "en")."""
    return [reason_text(r.code, language, r.watched, r.candidate, r.detail) for r in match.reasons]


@dataclass(frozen=True)
class Verdict:
    """One pair judged as the notices judge it: the best score, the verdict and why, in words."""

    score: float
    similar: bool
    reasons: tuple[str, ...]

    @property
    def label(self) -> str:
        return "similar" if self.similar else "distinct"


def verdict(
    watched: str,
    candidate: str,
    language: str = "en",
    threshold: float = DEFAULT_THRESHOLD,
    rule: ClassRule = DEFAULT_CLASS_RULE,
) -> Verdict:
    """``candidate`` checked against ``watched`` (in this order: ``contains`` looks one way only) with
    the threshold and class rule the notices use; no classes, so the class relation is unknown.

    The score and reasons are given even below ``threshold``, so that a pair judged distinct with a
    raised threshold still says what was seen.
    """
    found = compare(prepare(Mark(watched)), prepare(Mark(candidate)), 0.0, rule)
    if found is None:
        return Verdict(0.0, False, ())
    return Verdict(found.score, found.score >= threshold, tuple(explain(found, language)))
