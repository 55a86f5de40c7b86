"""Look-alike trademarks (pure): what an examiner would call similar (商标近似), and what not, both ways.

The tables are the specification: each row says why the pair is, or is not, a look-alike.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workstation.similarity import (
    DEFAULT_THRESHOLD,
    REASON_TEXT,
    ClassRule,
    Mark,
    Match,
    build_index,
    compare,
    explain,
    find_lookalikes,
    han_meanings,
    latin_meaning,
    lexicon,
    prepare,
    sound_key,
    verdict,
)

pytestmark = pytest.mark.pure


def match(watched: str, candidate: str, watched_classes=(), candidate_classes=(), **kw) -> Match | None:  # noqa: ANN001, ANN003
    return compare(
        prepare(Mark(watched, frozenset(watched_classes))), prepare(Mark(candidate, frozenset(candidate_classes))), **kw
    )


# (watched, candidate, a reason code that must be among the reasons, why)
LOOKALIKES = [
    ("星河", "星河湾", "contains", "one character added to the watched mark"),
    ("星河湾", "星河", "near_text", "one character removed: the other direction of the same pair"),
    ("康师傅", "康帅傅", "visual", "师/帅 differ by a stroke"),
    ("大白兔", "太白兔", "visual", "大/太 differ by a dot"),
    ("王老吉", "玉老吉", "visual", "王/玉 differ by a dot"),
    ("日升", "曰升", "visual", "日/曰: even two characters, when the change is a look-alike"),
    ("三只松鼠", "三只松树", "near_text", "one character changed in four"),
    ("星河", "兴和", "phonetic", "homophones: both xing he"),
    ("阿里巴巴", "阿里爸爸", "phonetic", "homophones, tones ignored"),
    ("金龙", "金龍", "phonetic", "traditional characters read the same"),
    ("星河", "XINGHE", "transliteration", "Chinese and its pinyin"),
    ("星河", "Xing He", "transliteration", "pinyin with a space and mixed case"),
    ("星河", "Xīng Hé", "transliteration", "pinyin with tone marks"),
    ("XINGHE", "星河", "transliteration", "a Latin watched mark and a Chinese candidate"),
    ("Huawei", "华为", "transliteration", "a brand's pinyin spelling"),
    ("星河", "新星河科技", "contains", "the watched mark inside a longer one, 科技 dropped"),
    ("星河", "XINGHE PHONE", "contains", "the watched mark's pinyin inside a longer Latin mark"),
    ("Apple", "applestore", "contains", "a watched word of 5+ letters at the start of a longer word"),
    ("华为", "华为技术有限公司", "same_text", "company-name words are not part of the mark"),
    ("华为", "华为牌", "same_text", "牌 (brand) is not part of the mark"),
    ("STARLINK", "Starlink Tech", "same_text", "generic Latin words dropped"),
    ("Huawei", "HUA-WEI", "same_text", "case and punctuation"),
    ("HUAWEI", "ＨＵＡＷＥＩ", "same_text", "full-width letters"),
    ("Galaxy Star", "GALAXYSTAR", "same_text", "spacing"),
    ("Nescafe", "Nescafé", "same_text", "accents"),
    ("Huawei", "Huawey", "near_text", "one letter changed in six"),
    ("Adidas", "Adidos", "near_text", "one letter changed in six"),
    ("Starbucks", "Starbocks", "near_text", "one letter changed in nine"),
    ("Macdonalds", "Mcdonalds", "near_text", "one letter removed"),
    ("Google", "Gogole", "near_text", "two letters swapped count as one edit"),
    ("Herna", "Hera", "near_text", "edits are counted as written too: merging rn into m would leave four letters"),
    ("modern", "rnodern", "visual", "rn looks like m"),
    ("Google", "G00GLE", "visual", "zeros for O"),
    ("Apple", "AppIe", "visual", "capital I for l"),
    ("wolf", "vvolf", "visual", "vv looks like w, even in a short word"),
    ("Apple", "Аpple", "visual", "a Cyrillic а"),
    ("星河 GALAXY", "星河", "same_part", "the Chinese part of a combined mark"),
    ("星河 GALAXY", "银河 GALAXY", "same_part", "the Latin part of a combined mark"),
    ("康师傅面", "康师傅", "near_text", "one character dropped from four"),
    ("大", "太", "visual", "a single character: only the same or a look-alike counts"),
    ("立白", "立日", "visual", "白/日 differ by a stroke"),
    ("Wavelet", "VVavelet", "visual", "VV for W: a capital V alone is not a camelCase word"),
    ("星河电器", "星河", "same_text", "the trade of a trade name (电器, appliances) is not part of the mark"),
    ("Greenfield Farms", "Greenfield Foods", "same_text", "the trade in Latin: Farms, Foods"),
    ("Blue Ocean", "Ocean Blue", "reordered", "the same words in another order"),
    ("星河", "XINGHEPHONE", "contains", "a pinyin glued to another word: phone does not go on with he"),
    ("Quickmart", "Kwikmart", "sound", "qu/kw and ck/k: both sound kwikmart"),
    ("Fotonix", "Photonix", "sound", "ph/f and x/ks: both sound fotoniks"),
    ("Brightline", "Braitline", "sound", "igh/ai and the silent e that lengthens i: both sound braitlain"),
    ("Krystal Klear", "Crystal Clear", "sound", "invented spellings of two English words"),
    ("蓝月", "BLUE MOON", "translation", "蓝 blue and 月 moon, word for word"),
    ("BLUE MOON", "蓝月", "translation", "a Latin watched mark and its Chinese translation"),
    ("三星", "THREE STARS", "translation", "三 three and 星 star: the plural made singular"),
    ("两只虎", "TWO TIGERS", "translation", "the measure word 只 is left out in English"),
    ("太阳", "Sun", "translation", "a word the lexicon knows whole"),
    ("Solvi", "5OLVI", "visual", "5 for S"),
    ("Zentra", "2ENTRA", "visual", "2 for Z"),
    ("Roxi", "Poxi", "visual", "R/P one stroke apart in an invented four-letter word"),
    ("Exim", "Fxim", "visual", "E/F one stroke apart"),
    ("Corvex", "Gorvex", "visual", "C/G one stroke apart (and one letter of six: near_text too)"),
]

# (watched, candidate, why an examiner would say they differ)
DIFFERENT = [
    ("星河", "星巴克", "they share only one common character, 星"),
    ("星", "星巴克", "a one-character mark is not 'contained' in every mark using the character"),
    ("星河", "星光", "one of two characters changed makes another word"),
    ("小米", "大米", "one of two characters changed makes another word"),
    ("阳光", "月光", "one of two characters changed makes another word"),
    ("长城", "长江", "one of two characters changed makes another word"),
    ("红星", "红旗", "one of two characters changed makes another word"),
    ("美的", "美团", "one of two characters changed makes another word"),
    ("华为", "中华", "one shared character in another position"),
    ("金鱼", "金龙鱼", "a character inserted inside a two-character word makes another word"),
    ("京东", "东京", "two characters swapped make another word (Tokyo)"),
    ("星河科技", "华为科技", "they share only the generic word 科技"),
    ("科技", "星河科技", "a watched mark that is only a generic word matches nothing else"),
    ("星科技", "华科技", "one distinctive character each, plus 科技"),
    ("中国银行", "中国移动", "they share only 中国 and nothing distinctive"),
    ("Acme Tech", "Zenith Tech", "they share only the generic word tech"),
    ("Group Ltd", "Tech Co", "both are generic words only"),
    ("tech", "biotech", "a generic word inside another word"),
    ("星", "兴", "single-character homophones are too common to count"),
    ("安", "按", "single-character homophones are too common to count"),
    ("星河", "兴华", "xing he vs xing hua: a different reading"),
    ("星河", "XINGYUN", "a different pinyin"),
    ("HUA", "华为", "one syllable of the pinyin is not a transliteration"),
    ("Apple", "Maple", "two edits in five letters"),
    ("NOVA", "NOTA", "a four-letter word with one letter changed is another word"),
    ("Sun", "Run", "a three-letter word with one letter changed is another word"),
    ("Galaxy", "Gallery", "three edits"),
    ("Lenovo", "Lenox", "two edits in six letters"),
    ("Star", "Starbucks", "a four-letter word at the start of another word"),
    ("Apple", "Pineapple", "a word inside another word, not at its start"),
    ("!!!", "???", "no letters or characters at all"),
    ("春晖", "CHUNHUA", "one letter off the pinyin, but chun hua is the pinyin of another word (春华)"),
    ("宏达", "HONGFA", "hong fa: another word's pinyin"),
    ("安心", "ANXING", "an xin starts ANXING, but the word reads an xing"),
    ("星河", "XINGHENG", "xing he starts XINGHENG, which reads xing heng"),
    ("Blue Ocean", "Blue Sky", "only the common word Blue in common"),
    ("Tech Group", "Digital Group", "a mark of generic words alone"),
    ("Sell", "Cell", "homophones, but both English words with their own meanings (and a 3-letter sound)"),
    ("Kara", "Cora", "the vowels differ: the sound keeps them"),
    ("Cubo", "Kobe", "consonants alike, vowels not (what a consonant-only code like Metaphone would merge)"),
    ("Pest", "Rest", "P/R one stroke apart, but two English words"),
    ("Roxi", "Poxy", "one stroke apart plus another letter: two differences"),
    ("Rix", "Pix", "three letters: too short for a one-stroke look-alike"),
    ("Kool", "Cool", "the same sound, but a sound of three letters (kul) tells too little"),
    ("蓝月", "BLUE", "only a part of the translation"),
    ("金龙", "GOLDEN TIGER", "龙 is a dragon, not a tiger"),
    ("银河", "SILVER RIVER", "银河 is the galaxy: a word the lexicon knows is read whole, not character by character"),
    ("星河 GALAXY", "银河 COSMOS", "a part of one combined mark translates a part of the other: not the marks"),
    ("月", "MOONLIGHT", "a translation must cover every word of both marks"),
]


@pytest.mark.parametrize(("watched", "candidate", "code", "why"), LOOKALIKES)
def test_lookalikes_match_with_the_expected_reason(watched: str, candidate: str, code: str, why: str) -> None:
    found = match(watched, candidate)
    assert found is not None, why
    assert code in found.codes, (why, found.reasons)
    assert found.score >= DEFAULT_THRESHOLD


@pytest.mark.parametrize(("watched", "candidate", "why"), DIFFERENT)
def test_different_marks_do_not_match_either_way(watched: str, candidate: str, why: str) -> None:
    assert match(watched, candidate) is None, why
    assert match(candidate, watched) is None, why


def test_the_tables_cover_every_kind_of_reason() -> None:
    assert {code for *_, code, _ in LOOKALIKES} == set(REASON_TEXT)
    assert match("三只松鼠", "松鼠三只") is not None and "reordered" in match("三只松鼠", "松鼠三只").codes
    assert len(LOOKALIKES) >= 15 and len(DIFFERENT) >= 15


def test_evidence_says_why_in_both_languages() -> None:
    phonetic = match("星河", "兴和")
    (reason,) = phonetic.reasons
    assert (reason.code, reason.watched, reason.candidate) == ("phonetic", "xing he", "xing he")
    visual = match("康师傅", "康帅傅").reasons[0]
    assert visual.detail == "师/帅"
    assert match("modern", "rnodern").reasons[0].detail == "m/rn"
    zh, en = explain(phonetic, "zh"), explain(phonetic, "en")
    assert "读音相同" in zh[0] and "xing he" in zh[0]
    assert "same pronunciation" in en[0]
    for code, texts in REASON_TEXT.items():
        assert set(texts) == {"zh", "en"}, code


def test_scores_rank_the_kinds_of_similarity() -> None:
    assert match("华为", "华为").score == 1.0
    assert match("康师傅", "康帅傅").score == 0.95
    assert match("星河", "兴和").score == 0.9
    assert 0.75 <= match("星河湾", "星河").score < 0.9


# --- English sound, translations, letters one stroke apart --------------------------------------


@pytest.mark.parametrize(
    ("word", "sound"),
    [
        ("photonix", "fotoniks"),  # ph -> f, x -> ks
        ("fotonix", "fotoniks"),
        ("quickmart", "kwikmart"),  # qu -> kw, ck -> k
        ("kwikmart", "kwikmart"),
        ("nightlight", "naitlait"),  # igh -> ai
        ("nitelite", "naitlait"),  # the silent e that lengthens i, inside the word too
        ("citrus", "sitrus"),  # c before i is s
        ("crystal", "kristal"),  # other c is k; y inside a word is i
        ("techno", "tekno"),  # Greek ch before a consonant
        ("chocolate", "chokolat"),  # ch before a vowel kept; a final silent e dropped
        ("xpress", "ekspres"),  # a first x before a consonant reads ex; doubled letters once
        ("yoga", "yoga"),  # a first y is a consonant
        ("5anso", ""),  # digits are for the visual rules
    ],
)
def test_sound_key_spells_how_english_sounds_a_word(word: str, sound: str) -> None:
    assert sound_key(word) == sound


def test_the_lexicon_is_a_curated_list_of_common_mark_words() -> None:
    words = lexicon()
    assert 200 <= len(words) <= 1000
    assert words["蓝"] == (("blue",),) and words["月"] == (("moon",),)
    assert words["金"] == (("gold",), ("golden",))  # every rendering, the adjective beside the noun
    assert words["只"] == ((),)  # a measure word a translation leaves out
    assert words["银河"] == (("galaxy",), ("milky", "way"))
    assert all(re.fullmatch(r"[\u3400-\u9fff]{1,4}", chinese) for chinese in words)
    assert all(
        all(word.isascii() and word.isalpha() and word.islower() for r in rs for word in r) for rs in words.values()
    )


def test_translations_read_a_chinese_mark_word_for_word() -> None:
    assert han_meanings("蓝月") == {"blue moon"}
    assert han_meanings("金狮") == {"gold lion", "golden lion"}
    assert han_meanings("两只虎") == {"tiger two"}  # 只 left out, the words sorted
    assert han_meanings("银河") == {"galaxy", "milky way"}  # read whole, not 银 silver + 河 river
    assert han_meanings("星巴克") == frozenset()  # 巴, 克 unknown: only a whole translation counts
    assert han_meanings("蓝" * 9) == frozenset()  # a phrase, not a mark's words
    assert latin_meaning(["three", "bears"]) == "bear three"
    assert latin_meaning(["the", "stories"]) == ""  # story is not in the lexicon
    assert latin_meaning(["foxes", "of", "the", "sky"]) == ""  # the is not a filler the rule knows
    assert latin_meaning(["foxes", "of", "sky"]) == "fox sky"


def test_new_rules_score_below_the_near_identical_and_need_a_shared_or_related_class() -> None:
    assert match("蓝月", "BLUE MOON").score == 0.85
    assert match("Quickmart", "Kwikmart").score == 0.85
    assert match("Roxi", "Poxi").score == 0.8 and match("Roxi", "Poxi").reasons[0].detail == "R/P"
    assert match("Solvi", "5OLVI").score == 0.95  # 5/S is a look-alike like 0/O
    assert match("蓝月", "BLUE MOON", {9}, {9}).level == "high"
    assert match("蓝月", "BLUE MOON", {9}, {30}) is None  # unrelated classes: near-identical only
    assert match("Quickmart", "Kwikmart", {35}, {36}) is None
    assert match("Quickmart", "Kwikmart", threshold=0.9) is None


def test_new_rules_explain_themselves_in_both_languages() -> None:
    translation, sound = match("蓝月", "BLUE MOON"), match("Fotonix", "Photonix")
    assert explain(translation, "en") == ["a translation: “蓝月” and “blue moon” mean the same, word for word"]
    assert "翻译" in explain(translation, "zh")[0] and "蓝月" in explain(translation, "zh")[0]
    assert explain(sound, "en") == ["the same sound in English: “fotonix” and “photonix” both sound like “fotoniks”"]
    assert "读音" in explain(sound, "zh")[0] and "fotoniks" in explain(sound, "zh")[0]


def test_the_index_finds_sound_translation_and_one_stroke_matches() -> None:
    watched = [Mark(text, id=i) for i, text in enumerate(["蓝月", "Quickmart", "Pelix", "Exim", "星河"])]
    index = build_index(watched)
    for candidate, watched_id in [("BLUE MOON", 0), ("Kwikmart", 1), ("Relix", 2), ("Fxim", 3)]:
        assert [m.watched_id for m in find_lookalikes(Mark(candidate), index)] == [watched_id], candidate
    assert find_lookalikes(Mark("BLUE"), index) == []


# --- classes ---------------------------------------------------------------------------------


def test_a_match_in_a_shared_class_is_a_high_warning() -> None:
    found = match("星河", "兴和", {9, 35}, {9})
    assert (found.class_relation, found.level, found.class_overlap) == ("same", "high", frozenset({9}))


def test_related_classes_and_unknown_classes_are_medium_warnings() -> None:
    assert match("星河", "兴和", {9}, {42}).level == "medium"  # software / software services
    assert match("星河", "兴和", {9}, ()).class_relation == "unknown"  # a case naming a mark without class
    assert match("星河", "兴和", {9}, ()).level == "medium"


def test_in_unrelated_classes_only_identical_or_near_identical_marks_count() -> None:
    assert match("星河", "兴和", {9}, {30}) is None  # homophones: no risk of confusion across goods
    assert match("星河", "新星河", {9}, {30}) is None
    identical = match("星河", "星河牌", {9}, {30})
    assert (identical.class_relation, identical.level) == ("unrelated", "low")
    assert match("康师傅", "康帅傅", {30}, {9}).level == "low"  # look-alike characters only


def test_the_class_rule_is_configurable() -> None:
    ignore_classes = ClassRule(unrelated_min_score=0.0)
    assert match("星河", "兴和", {9}, {30}, rule=ignore_classes).level == "low"
    never_unrelated = ClassRule(unrelated_min_score=1.01)
    assert match("星河", "星河", {9}, {30}, rule=never_unrelated) is None
    custom = ClassRule(related=frozenset({(30, 9)}))
    assert match("星河", "兴和", {9}, {30}, rule=custom).class_relation == "related"


def test_a_mark_needs_real_nice_classes() -> None:
    with pytest.raises(ValueError, match="Nice class"):
        Mark("星河", frozenset({0}))
    with pytest.raises(ValueError, match="46"):
        Mark("星河", frozenset({9, 46}))
    assert Mark("星河", [9, 9, 42]).classes == frozenset({9, 42})  # type: ignore[arg-type]


def test_threshold_keeps_only_the_stronger_kinds() -> None:
    assert match("星河湾", "星河", threshold=0.85) is None
    assert match("星河", "兴和", threshold=0.85) is not None


# --- searching the watched marks ---------------------------------------------------------------

WATCHED = [
    Mark("星河", frozenset({9}), id=1),
    Mark("兴和", frozenset({30}), id=2),
    Mark("星巴克", frozenset({43}), id=3),
    Mark("Huawei", frozenset({9}), id=4),
    Mark("科技", frozenset({9}), id=5),
    Mark("XINGHE", frozenset({42}), id=6),
    Mark("Galaxy 星河", frozenset({9}), id=7),
    Mark("星河", frozenset({25}), id=8),
]


def test_find_lookalikes_orders_by_warning_level_then_score() -> None:
    found = find_lookalikes(Mark("新星河科技", frozenset({9})), build_index(WATCHED))
    assert [(m.watched_id, m.level) for m in found] == [(1, "high"), (7, "high"), (6, "medium")]
    # 8 is 星河 too, but in class 25: containing it is not enough across unrelated goods


def test_the_index_finds_what_comparing_everything_finds() -> None:
    index = build_index(WATCHED)
    prepared = [prepare(m) for m in WATCHED]
    for text, classes in [("星河", {9}), ("兴和", ()), ("XingHe Tech", {42}), ("HUAWEY", {9}), ("科技", {9}),
                          ("星巴克咖啡", {43}), ("GALAXY", {9}), ("星河", {25, 9})]:  # fmt: skip
        candidate = Mark(text, frozenset(classes))
        assert find_lookalikes(candidate, index) == find_lookalikes(candidate, prepared), text


def test_a_candidate_may_be_prepared_once_and_the_index_accepts_raw_marks() -> None:
    index = build_index(WATCHED)
    assert len(index) == len(WATCHED)
    candidate = prepare(Mark("兴和", frozenset({9})))
    found = find_lookalikes(candidate, index)
    # 星河 and Galaxy 星河 in class 9 (homophones, same class), XINGHE in related class 42, then the
    # identical 兴和 in unrelated class 30; 星河 in class 25 is a homophone in an unrelated class: dropped
    assert [(m.watched_id, m.level) for m in found] == [(1, "high"), (7, "high"), (6, "medium"), (2, "low")]


# --- properties ----------------------------------------------------------------------------------

HAN = "星河兴和湾师帅康傅大太白兔日曰升金龙龍华为科技牌中国阿里巴爸新蓝月只两虎"
LATIN = "xinghuaweiabrnmvo01lI -"
#: whole words, so that sound-alike spellings, translations and one-stroke pairs come up often
WORDS = ["blue", "moon", "golden", "tiger", "two", "quick", "kwik", "ph", "f", "pelix", "relix", "e", "q", "5", "2"]
CLASSES = st.frozensets(st.integers(1, 45), max_size=3)


def near_marks() -> st.SearchStrategy[str]:
    """Short texts from a few characters and letters, so that look-alikes are frequent."""
    return st.one_of(
        st.text(st.sampled_from(HAN), min_size=1, max_size=5),
        st.text(st.sampled_from(LATIN), min_size=1, max_size=12),
        st.builds(
            lambda a, b: a + " " + b,
            st.text(st.sampled_from(HAN), max_size=3),
            st.text(st.sampled_from(LATIN), max_size=8),
        ),
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join),
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map("".join),
        st.text(max_size=12),
    )


def symmetric_part(found: Match | None) -> set[tuple[str, float]]:
    return set() if found is None else {(r.code, round(r.score, 6)) for r in found.reasons if r.code != "contains"}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=near_marks(), b=near_marks(), ca=CLASSES, cb=CLASSES)
def test_compare_is_symmetric_except_for_contains(a: str, b: str, ca: frozenset[int], cb: frozenset[int]) -> None:
    pa, pb = prepare(Mark(a, ca)), prepare(Mark(b, cb))
    everything = ClassRule(unrelated_min_score=0.0)
    ab, ba = compare(pa, pb, 0.0, everything), compare(pb, pa, 0.0, everything)
    assert symmetric_part(ab) == symmetric_part(ba)
    if ab is not None and ba is not None:
        assert ab.class_relation == ba.class_relation and ab.class_overlap == ba.class_overlap


@settings(max_examples=300, deadline=None)
@given(text=st.text(), other=st.text(), classes=CLASSES)
def test_compare_never_raises_and_a_mark_always_matches_itself(text: str, other: str, classes: frozenset[int]) -> None:
    prepared = prepare(Mark(text, classes))
    compare(prepared, prepare(Mark(other)))
    find_lookalikes(Mark(other), build_index([prepared]))
    if prepared.core:  # anything with a letter, a digit or a Chinese character
        itself = compare(prepared, prepared)
        assert itself is not None and itself.score == 1.0 and itself.codes == ("same_text",)
    else:
        assert compare(prepared, prepared) is None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(watched=st.lists(st.tuples(near_marks(), CLASSES), max_size=12), candidate=near_marks(), classes=CLASSES)
def test_the_index_shortlist_never_loses_a_match(
    watched: list[tuple[str, frozenset[int]]], candidate: str, classes: frozenset[int]
) -> None:
    prepared = [prepare(Mark(text, cls, id=i)) for i, (text, cls) in enumerate(watched)]
    mark = Mark(candidate, classes)
    for rule in (ClassRule(), ClassRule(unrelated_min_score=0.0)):
        assert find_lookalikes(mark, build_index(prepared), 0.0, rule) == find_lookalikes(mark, prepared, 0.0, rule)


# --- the labelled set: pairs as an examiner judges them ------------------------------------------

PAIRS = Path(__file__).parent / "data" / "mark_pairs.csv"
HOLDOUT = Path(__file__).parent / "data" / "mark_pairs_holdout.csv"
_HAN = re.compile(r"[\u3400-\u9fff]")


def labelled_pairs() -> list[dict[str, str]]:
    with PAIRS.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_the_second_labelled_set_has_the_same_form_and_150_pairs_or_more() -> None:
    """Written before the sound, translation and one-stroke rules and never tuned on: only scored, by
    benchmarks/similarity.py (its figures are in benchmarks/README.md), so no goal is asserted here."""
    with HOLDOUT.open(encoding="utf-8", newline="") as f:
        pairs = list(csv.DictReader(f))
    assert list(pairs[0]) == ["mark_a", "mark_b", "label", "kind", "note"]
    assert len(pairs) >= 150 and {p["label"] for p in pairs} == {"similar", "distinct"}
    assert all(p["mark_a"].strip() and p["mark_b"].strip() and p["note"].strip() for p in pairs)
    assert not {(p["mark_a"], p["mark_b"]) for p in pairs} & {(p["mark_a"], p["mark_b"]) for p in labelled_pairs()}


def test_the_labelled_set_is_large_and_covers_both_scripts() -> None:
    pairs = labelled_pairs()
    assert list(pairs[0]) == ["mark_a", "mark_b", "label", "kind", "note"]
    assert len(pairs) >= 200
    assert {p["label"] for p in pairs} == {"similar", "distinct"}
    similar = sum(p["label"] == "similar" for p in pairs)
    assert 0.35 <= similar / len(pairs) <= 0.65  # roughly half each: both rates rest on 100+ pairs
    chinese = [p for p in pairs if _HAN.search(p["mark_a"]) and _HAN.search(p["mark_b"])]
    latin = [p for p in pairs if not _HAN.search(p["mark_a"] + p["mark_b"])]
    mixed = [p for p in pairs if p not in chinese and p not in latin]
    assert len(chinese) >= 60 and len(latin) >= 60 and len(mixed) >= 10
    assert all(p["mark_a"].strip() and p["mark_b"].strip() and p["note"].strip() for p in pairs)


def test_recall_and_false_alarms_on_the_labelled_set() -> None:
    """The issue's goal: recall >= 95 % with false alarms <= 5 %, mark_a watched and mark_b the new mark,
    judged with the notices' threshold (``verdict``). The misses and false alarms left are listed by
    ``benchmarks/similarity.py``."""
    pairs = labelled_pairs()
    judged = [(p, verdict(p["mark_a"], p["mark_b"])) for p in pairs]
    misses = [(p["mark_a"], p["mark_b"]) for p, v in judged if p["label"] == "similar" and not v.similar]
    alarms = [(p["mark_a"], p["mark_b"], v.reasons) for p, v in judged if p["label"] == "distinct" and v.similar]
    similar = sum(p["label"] == "similar" for p in pairs)
    recall = 1 - len(misses) / similar
    false_alarm_rate = len(alarms) / (len(pairs) - similar)
    assert recall >= 0.95, misses
    assert false_alarm_rate <= 0.05, alarms
