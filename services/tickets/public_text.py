"""The public-text policy: what of a piece of free text may be shown to people it is not
about (the public, the bulletin, another resident, the auditor).

The public sees category, place, status, structured measures and department, never what a
resident wrote; staff text only after `Masker.mask`. The masker removes what the estate's
own records know (`KnownTerms`: names in Chinese and in pinyin/English forms, phones,
units, plates) and what looks personal by its shape: phone numbers, 身份证 numbers, e-mail
addresses, unit and room numbers, licence plates, and Chinese names next to a cue word
(张伟先生, 联系王芳, call me Zhang Wei). Each masked span becomes `MASK` and is reported
with its kind, so a reviewer can see what was taken out (docs/privacy.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, lru_cache
from itertools import pairwise

from pypinyin import Style, lazy_pinyin, pinyin

from services.tickets.surnames import COMPOUND_SURNAMES, NOT_NAMES, SURNAMES

__all__ = ["MASK", "Kind", "KnownTerms", "Masked", "Masker", "Span", "pinyin_forms"]

MASK = "＊＊＊"  # the bulletin's mask since its first format: one token for every kind


class Kind(StrEnum):
    NAME = "name"
    PHONE = "phone"
    ID_NUMBER = "id_number"
    EMAIL = "email"
    UNIT = "unit"
    PLATE = "plate"


@dataclass(frozen=True, order=True)
class Span:
    """Characters [start, end) of the original text, masked as `kind`."""

    start: int
    end: int
    kind: Kind


@dataclass(frozen=True)
class Masked:
    source: str
    text: str
    spans: tuple[Span, ...]

    def segments(self) -> list[tuple[str, Kind | None]]:
        """The masked text in pieces: kept text with None, each mask with its kind (for a
        reviewer's page that highlights what was taken out)."""
        out: list[tuple[str, Kind | None]] = []
        at = 0
        for span in self.spans:
            if span.start > at:
                out.append((self.source[at:span.start], None))
            out.append((MASK, span.kind))
            at = span.end
        if at < len(self.source):
            out.append((self.source[at:], None))
        return out


@dataclass(frozen=True)
class KnownTerms:
    """What the estate's records know about people: matched exactly wherever it appears."""

    names: frozenset[str] = field(default_factory=frozenset)
    phones: frozenset[str] = field(default_factory=frozenset)
    units: frozenset[str] = field(default_factory=frozenset)
    plates: frozenset[str] = field(default_factory=frozenset)

    def __or__(self, other: KnownTerms) -> KnownTerms:
        return KnownTerms(self.names | other.names, self.phones | other.phones,
                          self.units | other.units, self.plates | other.plates)


# --- patterns ----------------------------------------------------------------------------

_SEP = r"[\s\-－—]"
_CN_NUM = r"(?:\d{1,3}|[一二三四五六七八九十]{1,3})"
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# (kind, pattern): where a pattern has a group named "m", only that group is masked
PATTERNS: tuple[tuple[Kind, re.Pattern[str]], ...] = (
    (Kind.EMAIL, _re(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")),
    # 身份证: 18 characters (date of birth inside, last a digit or X), or the old 15 digits
    (Kind.ID_NUMBER, _re(r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])"
                         r"(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])")),
    (Kind.ID_NUMBER, _re(r"(?<!\d)[1-9]\d{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}"
                         r"(?!\d)")),
    # mobiles, with +86 / 0086 and spaces or dashes anywhere between the groups
    (Kind.PHONE, _re(r"(?<![\d+])(?:(?:\+|00)\s?86[\s\-]?)?1[3-9]\d[\s\-]?\d{4}[\s\-]?\d{4}"
                     r"(?!\d)")),
    # landlines: area code (in brackets or not) and a 7–8 digit number, extension optional
    (Kind.PHONE, _re(r"(?<!\d)(?:(?:\+|00)\s?86[\s\-]?)?[(（]?0\d{2,3}[)）]?[\s\-]?\d{3,4}"
                     r"[\s\-]?\d{4}(?:\s?(?:转|ext\.?|x)\s?\d{1,5})?(?!\d)")),
    # any other run of digit groups of 3+ digits adding up to 7 or more (6212 3456, 400-820-
    # 8820); dates (2026-11-23) are not such groups
    (Kind.PHONE, _re(r"(?<![\d\-])(?![48]00[\s\-]?\d{3}[\s\-]?\d{4}(?!\d))"
                     r"\d{3,}(?:[\s\-]\d{3,})*(?![\d\-])")),
    # plates: 沪A·12345, 沪A12345, new-energy 沪AD12345, 沪A1234学
    (Kind.PLATE, _re(rf"[{_PROVINCES}]\s?[A-Z]\s?[·•・.\-\s]?\s?"
                     r"(?:[A-Z0-9]{6}|[A-Z0-9]{5}|[A-Z0-9]{4}[挂学警港澳])(?![A-Za-z0-9])")),
    # units: 3-1-1203, 3-1203
    (Kind.UNIT, _re(rf"(?<![\d\-.:/])\d{{1,3}}{_SEP}\d{{1,2}}{_SEP}\d{{3,4}}(?![\d\-])")),
    (Kind.UNIT, _re(r"(?<![\d\-.:/])\d{1,3}\s?[\-－—]\s?\d{3,4}(?![\d\-])")),
    # 3栋12层03室, 3号楼1单元1203(室), 3幢1203, 3号楼12楼3室
    (Kind.UNIT, _re(rf"{_CN_NUM}\s?(?:号楼|栋|幢|座|号)\s?(?:{_CN_NUM}\s?单元\s?)?"
                    rf"(?:\d{{1,2}}\s?[层楼]\s?\d{{1,3}}\s?(?:室|号|房|户)?"
                    r"|\d{1,4}\s?(?:室|号房|房|户)|\d{3,4}(?![\d层楼单]))")),
    # 12楼3室, 12层03号, 1203室, 1203房
    (Kind.UNIT, _re(r"(?<!\d)\d{1,2}\s?[层楼]\s?\d{1,3}\s?(?:室|号|房|户)")),
    (Kind.UNIT, _re(r"(?<![\d\-])\d{3,4}\s?(?:室|号房|房间|房)")),
    # a number after 住/家在/门牌: 住1203, 门牌号是1203
    (Kind.UNIT, _re(r"(?:住在?|家住|家在|门牌号?|房号|房间号)\s?(?:是|为|[:：])?\s?"
                    r"(?P<m>\d{1,3}[\-－]\d{2,4}|\d{3,4})(?!\d)")),
    (Kind.UNIT, _re(r"\b(?:room|flat|apt\.?|apartment|unit|rm\.?|no\.)\s?#?\s?"
                    r"(?P<m>\d+(?:[\-/]\d+)*)")),
)

# --- names -------------------------------------------------------------------------------

_HAN = r"[\u4e00-\u9fff]"
# honorifics and roles after a name: 张先生, 王芳女士, 李师傅
_AFTER = ("先生", "女士", "小姐", "阿姨", "叔叔", "师傅", "老师", "大爷", "大妈", "大姐", "大哥",
          "经理", "主任", "主管", "同学", "老板", "奶奶", "爷爷", "阿婆", "伯伯", "婆婆", "姐姐",
          "哥哥", "医生", "律师", "总", "工", "姐", "哥", "叔", "姨", "伯", "老")
# verbs that follow a person who reports or calls: 张伟反映, 王芳来电
_AFTER_VERB = ("反映", "投诉", "来电", "报修", "致电", "打来", "表示", "称", "说", "反馈",
               "要求", "提出", "发现", "联系", "确认", "签收", "在家", "已", "在", "和",
               "检查", "更换", "安排", "调取", "修剪", "值班", "知道", "负责", "处理", "维修",
               "清理", "巡查", "回访", "到场", "到现场", "同意", "批准", "拒绝", "登记")
# what comes before a name: 我是张伟, 联系王芳, 业主李明
_BEFORE = ("我是", "我叫", "叫我", "名叫", "姓名", "名字", "联系人", "联系", "找", "致电", "通知",
           "告知", "转告", "业主", "住户", "租户", "居民", "报修人", "报事人", "来电人",
           "投诉人", "师傅", "保洁员", "保洁", "保安", "经理", "主管", "客服", "电工", "维修工",
           "维修员", "水电工", "管家", "交给", "转给", "派给", "由", "和", "与", "跟",
           "给", "请", "问", "问一下", "@", "签字", "签名", "代收", "收件人", "访客", "登记")
_STOP = set("的了是在和与跟给到来去要让把被就也都还很吗呢吧啊呀哦说已及或等这那们上下里外前后"
            "不没有再又才说称讲告通知联反投来打电话处理修表示先女叔师老经主同奶爷婆伯好物"
            "姐哥医律工总姨请问找向对从为于以而但却即将已经过会能可并把个位名号楼栋层室"
            "门口元单区路街院家人员部组检查更换安排调值负清巡回批拒登")
# where a word ends: a name may start after one of these
_BOUNDARY = set("的了是在和与跟给到就也都还很吗呢吧啊呀哦说已及或等这那们把被让请问找向对从为由以而"
                "但却即并个位今天部组")
# job titles after a name: unlike 先生 or 阿姨 they also follow words (项目经理)
_TITLES = frozenset({"经理", "主任", "主管", "老师", "医生", "律师", "老板", "同学"})
# a one-character honorific that begins a word instead: 45张工单, 电池老化
_SINGLE_WORDS_TEXT = ("工单 工作 工程 工人 工具 工地 工资 工期 工序 工位 工厂 工艺 总共 总是"
                      " 总部 总计 总数 总额 总体 总结 总之 老化 老人 老年 老旧 老家 老板 老师"
                      " 老公 老鼠 姐妹 哥们")
_SINGLE_WORDS = frozenset(_SINGLE_WORDS_TEXT.split())
_NAME = re.compile(
    rf"(?:{'|'.join(sorted(COMPOUND_SURNAMES, key=len, reverse=True))}|[{''.join(SURNAMES)}])"
    rf"{_HAN}{{0,2}}")
_LATIN_CUE = re.compile(
    r"\b(?:mr|mrs|ms|miss|dr|madam|call me|called|named|name is|i am|i'm|this is|ask for|"
    r"contact|for|by|to|from|with|tell|told|owner|resident|tenant|cleaner|plumber|"
    r"electrician|master|ayi)\.?,?\s+", re.IGNORECASE)
_LATIN_WORD = re.compile(r"[A-Z][a-zA-Z]*(?:-[a-zA-Z]+)?")


def _pinyin_syllables() -> frozenset[str]:
    initials = ["", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x",
                "zh", "ch", "sh", "r", "z", "c", "s", "y", "w"]
    finals = ["a", "o", "e", "i", "u", "v", "ai", "ei", "ui", "ao", "ou", "iu", "ie", "ve",
              "er", "an", "en", "in", "un", "ang", "eng", "ing", "ong", "ia", "iao", "ian",
              "iang", "iong", "ua", "uo", "uai", "uan", "uang", "van", "ue", "ve", "ui", "vn"]
    return frozenset(i + f for i in initials for f in finals)


_SYLLABLES = _pinyin_syllables()


def _product(options: list[list[str]]) -> Iterator[list[str]]:
    if not options:
        yield []
        return
    for head in options[0]:
        for rest in _product(options[1:]):
            yield [head, *rest]


def _readings(chars: str) -> list[str]:
    """Every pinyin reading of `chars` (each character's readings combined)."""
    return ["".join(p).replace("ü", "v")
            for p in _product(pinyin(chars, style=Style.NORMAL, heteronym=True))]


_PINYIN_SURNAMES = frozenset(r for s in SURNAMES | COMPOUND_SURNAMES for r in _readings(s))


@cache
def _splits(rest: str, left: int) -> bool:
    """Whether `rest` splits into at most `left` pinyin syllables."""
    if not rest:
        return True
    if left == 0:
        return False
    return any(rest[:n] in _SYLLABLES and _splits(rest[n:], left - 1)
               for n in range(min(6, len(rest)), 0, -1))


def _is_pinyin(word: str, most: int = 3) -> bool:
    """Whether `word` splits into 1..`most` pinyin syllables."""
    word = word.lower().replace("-", "").replace("'", "")
    return bool(word) and len(word) <= 6 * most and _splits(word, most)


def _split_name(name: str) -> tuple[str, str]:
    if name[:2] in COMPOUND_SURNAMES and len(name) > 2:
        return name[:2], name[2:]
    return name[:1], name[1:]


@lru_cache(maxsize=200_000)  # the same names come back at every refresh
def pinyin_forms(name: str) -> frozenset[str]:
    """The ways a Chinese name is written in Latin letters: Zhang Wei, Wei Zhang, Zhangwei,
    ZHANG Wei, Xiu-ying … (lower case, as `_joined` compares them)."""
    if not re.fullmatch(rf"{_HAN}{{2,4}}", name):
        return frozenset()
    surname, given = _split_name(name)
    out: set[str] = set()
    for family in {"".join(lazy_pinyin(surname)).replace("ü", "v"), *_readings(surname)}:
        syllables = [s.replace("ü", "v") for s in lazy_pinyin(given)]
        for g in {"".join(syllables), " ".join(syllables), "-".join(syllables)}:
            out |= {f"{family} {g}", f"{g} {family}", f"{family}{g.replace(' ', '')}"}
    return frozenset({f.replace("v", "u") for f in out} | out)


def _joined(term: str) -> str:
    """A Latin name as compared: lower case, without spaces, dashes, dots or commas."""
    return re.sub(r"[\s\-.,·']+", "", term).lower()


_LATIN_RUN = re.compile(r"[A-Za-z]+")
_LATIN_GAP = re.compile(r"[\s\-.,·']{0,3}")
_DIGIT_RUN = re.compile(r"(?<!\d)\d(?:[\s\-]?\d){4,}(?!\d)")
_TOKEN_RUN = re.compile(rf"[0-9A-Za-z\-－—_/#·•{_PROVINCES}栋号楼单元层室幢座]+")


def _token(term: str) -> str:
    return re.sub(r"[\s\-－—·•.]+", "-", term.strip()).upper()


class Masker:
    """Masks personal data in free text (see the module's doc). Build one per estate from
    its `KnownTerms`; it holds no state between calls. Known terms are looked up in sets
    (not one large regular expression), so an estate of thousands of people builds in
    well under a second and masks a sentence in about a millisecond."""

    def __init__(self, known: KnownTerms | None = None) -> None:
        known = known or KnownTerms()
        self.known = known
        names = {n.strip() for n in known.names if len(n.strip()) >= 2}
        self._han_names = {n for n in names if re.fullmatch(rf"{_HAN}+", n)}
        self._han_lengths = sorted({len(n) for n in self._han_names}, reverse=True)
        latin = {_joined(n) for n in names - self._han_names}
        latin |= {_joined(f) for n in self._han_names for f in pinyin_forms(n)}
        self._latin_names = {n for n in latin if len(n) >= 4}
        self._phones = {d for d in (re.sub(r"\D", "", p) for p in known.phones) if len(d) >= 5}
        self._phone_lengths = sorted({len(d) for d in self._phones})
        self._token_kinds = {_token(u): Kind.UNIT for u in known.units if len(u.strip()) >= 3}
        self._token_kinds |= {_token(p): Kind.PLATE for p in known.plates
                              if len(p.strip()) >= 5}

    def _known_spans(self, text: str) -> Iterator[Span]:
        yield from self._known_names(text)
        yield from self._known_phones(text)
        yield from self._known_tokens(text)

    def _known_names(self, text: str) -> Iterator[Span]:
        for i in range(len(text)):  # names in Chinese: the longest that starts here
            for length in self._han_lengths:
                if text[i:i + length] in self._han_names:
                    yield Span(i, i + length, Kind.NAME)
                    break
        words = list(_LATIN_RUN.finditer(text))
        for i, first in enumerate(words):  # Latin names: 1 to 4 words, however spaced
            joined = ""
            for k, word in enumerate(words[i:i + 4]):
                if k and not _LATIN_GAP.fullmatch(text, words[i + k - 1].end(), word.start()):
                    break
                joined += word[0].lower()
                # one word alone must be capitalised (Wangfang), so "change" is not 常娥
                if joined in self._latin_names and (k or first[0][0].isupper()):
                    yield Span(first.start(), word.end(), Kind.NAME)

    def _known_phones(self, text: str) -> Iterator[Span]:
        for run in _DIGIT_RUN.finditer(text):
            digits = re.sub(r"\D", "", run[0])
            if any(digits[j:j + n] in self._phones for n in self._phone_lengths
                   for j in range(len(digits) - n + 1)):
                yield Span(run.start(), run.end(), Kind.PHONE)

    def _known_tokens(self, text: str) -> Iterator[Span]:
        """Units and plates the records hold, inside runs of such characters."""
        if not self._token_kinds:
            return
        for run in _TOKEN_RUN.finditer(text):
            token = _token(run[0])
            if len(token) != len(run[0]):
                continue  # a run with spaces inside is not one token: the patterns see it
            for j in range(len(token)):
                for k in range(len(token), j + 2, -1):
                    kind = self._token_kinds.get(token[j:k])
                    if kind is not None:
                        yield Span(run.start() + j, run.start() + k, kind)
                        break

    def find(self, text: str) -> list[Span]:
        """The spans to mask, merged where they overlap, in order."""
        found: list[Span] = list(self._known_spans(text))
        for kind, pattern in PATTERNS:
            for m in pattern.finditer(text):
                start, end = m.span("m") if "m" in pattern.groupindex else m.span()
                if end > start and (kind is not Kind.PHONE or _digits(m[0]) >= 7):
                    found.append(Span(start, end, kind))
        found += _chinese_names(text)
        found += _latin_names(text)
        found += _names_beside(text, found)
        return _merge(found)

    def mask(self, text: str) -> Masked:
        spans = tuple(self.find(text))
        out: list[str] = []
        at = 0
        for span in spans:
            out += [text[at:span.start], MASK]
            at = span.end
        out.append(text[at:])
        return Masked(text, "".join(out), spans)

    def __call__(self, text: str) -> str:
        return self.mask(text).text


def _digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


def _merge(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    # the earlier start first; at one start the longer span (it covers the shorter)
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if merged and span.start <= merged[-1].end:  # touching: one mask
            last = merged[-1]
            if span.end > last.end:
                merged[-1] = Span(last.start, span.end, last.kind)
            continue
        merged.append(span)
    return merged


def _is_word(text: str, at: int) -> bool:
    return any(text.startswith(w, at) for w in NOT_NAMES if text[at] == w[0])


_SINGLE = frozenset(cue for cue in _AFTER if len(cue) == 1)
_FAMILIAR = re.compile(rf"[老小](?P<m>[{''.join(SURNAMES - set('区时师公车方于'))}])"
                       rf"(?=[{''.join(_STOP)}，,。.！!？?\s]|$)")


def _starts_name(text: str, at: int) -> bool:
    """Whether a name may start at `at`: not inside a word (the text's start, after
    punctuation or a function word, or right after a cue such as 业主)."""
    if at == 0 or not re.match(_HAN, text[at - 1]) or text[at - 1] in _BOUNDARY:
        return True
    return any(text.endswith(cue, 0, at) for cue in _BEFORE if len(cue) > 1)


def _name_at(text: str, at: int) -> int:
    """The end of a name starting at `at` (surname + 1–2 characters that are not function
    words, stopping before an honorific), or `at` if there is none."""
    if _NAME.match(text, at) is None or _is_word(text, at):
        return at
    surname_end = at + (2 if text[at:at + 2] in COMPOUND_SURNAMES else 1)
    end = surname_end
    while end < len(text) and end - surname_end < 2 and re.match(_HAN, text[end]) \
            and text[end] not in _STOP and \
            not any(text.startswith(cue, end) for cue in _AFTER if len(cue) > 1):
        end += 1
    return at if end == surname_end else end


def _before_cue(text: str, i: int, cue: str) -> Span | None:
    """The name that ends where `cue` starts (at `i`): 张伟先生, 王先生, 王总, 李芳反映."""
    honorific = cue in _AFTER
    if cue in _SINGLE and any(text.startswith(w, i) for w in _SINGLE_WORDS):
        return None
    for length in (4, 3, 2, 1):  # the longest name that ends at the cue
        at = i - length
        if at < 0 or _NAME.fullmatch(text, at, i) is None or \
                (length == 4 and text[at:at + 2] not in COMPOUND_SURNAMES):
            continue
        if length == 1 and (not honorific or text[at:at + 2] in COMPOUND_SURNAMES):
            continue  # a surname alone is a name only before an honorific: 王先生
        if cue in _SINGLE and length > 1:
            continue  # 王总, 李工: the surname only, else 道路施工 would be a name
        if any(c in _STOP for c in text[at + 1:i]):
            continue
        # a word that starts with a surname (方便, 黎明) is a name only before an honorific
        if (_is_word(text, at) and not (honorific and len(cue) > 1 and cue not in _TITLES)) \
                or \
                not _starts_name(text, at):
            continue
        return Span(at, i, Kind.NAME)
    return None


def _chinese_names(text: str) -> list[Span]:
    found: list[Span] = []
    for cue in (*_AFTER, *_AFTER_VERB):
        start = 0
        while (i := text.find(cue, start)) >= 0:
            start = i + 1
            if (span := _before_cue(text, i, cue)) is not None:
                found.append(span)
    # a name after a cue: 我是张伟, 联系王芳, 业主李明
    for cue in _BEFORE:
        start = 0
        while (i := text.find(cue, start)) >= 0:
            start = i + 1
            at = i + len(cue)
            while at < len(text) and text[at] in " :：，,是为@":
                at += 1
            if at < len(text) and (end := _name_at(text, at)) > at:
                found.append(Span(at, end, Kind.NAME))
    # 老王, 小李
    found += [Span(*m.span("m"), Kind.NAME) for m in _FAMILIAR.finditer(text)]
    return found


def _names_beside(text: str, spans: list[Span]) -> list[Span]:
    """A name written next to a unit or a phone is the person's: 3-1203张伟, 张伟(138…)."""
    found: list[Span] = []
    for span in spans:
        if span.kind not in (Kind.UNIT, Kind.PHONE):
            continue
        at = span.end
        while at < len(text) and text[at] in " :：,，(（":
            at += 1
        if at < len(text) and (end := _name_at(text, at)) > at:
            found.append(Span(at, end, Kind.NAME))
        end = span.start
        while end > 0 and text[end - 1] in " :：,，(（":
            end -= 1
        for length in (4, 3, 2):
            start = end - length
            if start < 0 or _NAME.fullmatch(text, start, end) is None or \
                    (length == 4 and text[start:start + 2] not in COMPOUND_SURNAMES):
                continue
            if _is_word(text, start) or any(c in _STOP for c in text[start + 1:end]) or \
                    not _starts_name(text, start):
                continue
            found.append(Span(start, end, Kind.NAME))
            break
    return found


def _latin_names(text: str) -> list[Span]:
    """Pinyin names: two capitalised pinyin words one of which is a surname (Zhang Wei, Wei
    ZHANG), or one after a cue (Mr Zhang, call me Wei)."""
    found: list[Span] = []
    words = list(_LATIN_WORD.finditer(text))
    for first, second in pairwise(words):
        between = text[first.end():second.start()]
        if between not in (" ", ", ", "  ") or not (_is_pinyin(first[0]) and
                                                    _is_pinyin(second[0])):
            continue
        surname = first[0].lower().replace("-", "") in _PINYIN_SURNAMES or \
            second[0].lower() in _PINYIN_SURNAMES
        if surname and len(first[0]) > 1 and len(second[0]) > 1:
            found.append(Span(first.start(), second.end(), Kind.NAME))
    for cue in _LATIN_CUE.finditer(text):
        end = _name_at(text, cue.end())  # call me 张伟
        if end > cue.end():
            found.append(Span(cue.end(), end, Kind.NAME))
        m = _LATIN_WORD.match(text, cue.end())
        if m is None or not _is_pinyin(m[0]) or len(m[0]) < 2:
            continue
        word = cue[0].strip().lower().rstrip(".,")
        titled = word in ("mr", "mrs", "ms", "miss", "dr", "madam", "call me", "called",
                          "named", "name is", "master", "ayi")
        if titled or m[0].lower() in _PINYIN_SURNAMES:
            found.append(Span(m.start(), m.end(), Kind.NAME))
    return found
