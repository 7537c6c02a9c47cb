"""Customer names as companies have them, and as banks print them on a statement line.

The names are European (German, French, Italian, Dutch, Nordic, British, Spanish) and
Chinese (in pinyin with an English legal form, or in Chinese characters), each with its
legal form. The noise functions do what payment systems do to a payer's name: change
its case, spell umlauts out (SEPA's character set), drop or abbreviate the legal form,
drop punctuation, and cut the name at 27 or 35 characters (field widths of older
formats, e.g. DTAUS's 27 and MT940's 35). Each function does one thing, so the tests can
check each on its own.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable

SURNAMES = (
    "Müller", "Schröder", "Weiß", "Köhler", "Bäcker", "Hoffmann", "Schäfer", "Krüger",
    "Wagner", "Becker", "Fischer", "Jäger", "Lehmann", "Brandstätter", "Dupont", "Lefèvre",
    "Girard", "Mercier", "Rossi", "Bianchi", "Ferrari", "Esposito", "De Vries", "Janssen",
    "Van Dijk", "Bakker", "Andersson", "Lindqvist", "Nyström", "Virtanen", "Hansen", "Jensen",
    "Smith", "Taylor", "Whitfield", "García", "Fernández", "Núñez", "Łukasiewicz", "Novák",
)  # fmt: skip
TRADES = (
    "Maschinenbau", "Metallbau", "Logistik", "Elektrotechnik", "Bäckerei", "Getränke",
    "Kunststofftechnik", "Holzhandel", "Transports", "Électricité", "Bâtiment", "Alimentari",
    "Costruzioni", "Meubelen", "Installatietechniek", "Verktyg", "Trävaror", "Engineering",
    "Foods", "Logistics", "Textiles", "Pharma", "Optics", "Packaging", "Consulting",
    "Medical Supplies", "Automotive Parts", "Software", "Printing", "Chemicals",
)  # fmt: skip
PLACES = (
    "Nord", "Süd", "Rhein-Main", "Bayern", "Sachsen", "Alpen", "Provence", "Lombardia",
    "Holland", "Skåne", "Baltic", "Iberia", "Midlands", "Ost", "West", "International",
)  # fmt: skip
# Legal forms: the spelling on the invoice, then the other spellings a bank may show.
EU_FORMS = {
    "GmbH": ("GMBH", "Gesellschaft mit beschränkter Haftung"),
    "GmbH & Co. KG": ("GmbH Co KG", "GMBH + CO KG", "GmbH & Co KG"),
    "AG": ("Aktiengesellschaft",),
    "e.K.": ("eK",),
    "SARL": ("S.A.R.L.", "Sàrl"),
    "SAS": ("S.A.S.",),
    "S.r.l.": ("SRL", "Srl"),
    "S.p.A.": ("SPA", "SpA"),
    "B.V.": ("BV",),
    "AB": ("Aktiebolag",),
    "Oy": ("OY",),
    "A/S": ("AS",),
    "Ltd": ("Limited", "LTD."),
    "PLC": ("P.L.C.",),
    "S.L.": ("SL", "Sociedad Limitada"),
}
CN_FORMS = {"Co., Ltd.": ("Co Ltd", "Company Limited", "CO.,LTD")}
CN_CITIES = (
    "Shenzhen", "Shanghai", "Guangzhou", "Hangzhou", "Ningbo", "Suzhou", "Xiamen",
    "Qingdao", "Dongguan", "Foshan", "Wuxi", "Tianjin", "Chengdu", "Wuhan",
)  # fmt: skip
CN_BRANDS = (
    "Huada", "Jinlong", "Xinyuan", "Hengtai", "Tianrui", "Baofeng", "Meida", "Zhongxin",
    "Ruixiang", "Hongfa", "Lianchuang", "Yongsheng", "Shengda", "Kaiyuan", "Haoyun",
)  # fmt: skip
CN_TRADES = (
    "Electronics", "Technology", "Trading", "Industrial", "Machinery", "Import & Export",
    "Textile", "Plastic Products", "Lighting", "Precision Parts",
)  # fmt: skip
HAN_CITIES = ("深圳市", "上海", "广州市", "杭州", "宁波", "苏州", "厦门", "青岛")
HAN_BRANDS = ("华达", "金龙", "鑫源", "恒泰", "天瑞", "宝丰", "美达", "中信", "瑞祥", "宏发")
HAN_TRADES = ("电子", "科技", "贸易", "实业", "机械", "进出口", "纺织", "照明")
HAN_FORM = "有限公司"
FORMS = {**EU_FORMS, **CN_FORMS, HAN_FORM: ("有限责任公司",)}
# Longest first, so "GmbH & Co. KG" is found before "KG" would be.
_FORM_SPELLINGS = sorted(
    {spelling for form, others in FORMS.items() for spelling in (form, *others)},
    key=len,
    reverse=True,
)
SPELLED = {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}


def company_name(rng: random.Random) -> str:
    """One company name with its legal form: 80 % European, 15 % pinyin, 5 % Chinese script."""
    roll = rng.random()
    if roll < 0.80:
        form = rng.choice(list(EU_FORMS))
        words = [rng.choice(SURNAMES), rng.choice(TRADES)]
        if rng.random() < 0.4:
            words.append(rng.choice(PLACES))
        return " ".join([*words, form])
    if roll < 0.95:
        return f"{rng.choice(CN_CITIES)} {rng.choice(CN_BRANDS)} {rng.choice(CN_TRADES)} Co., Ltd."
    return f"{rng.choice(HAN_CITIES)}{rng.choice(HAN_BRANDS)}{rng.choice(HAN_TRADES)}{HAN_FORM}"


def unique_names(n: int, rng: random.Random) -> list[str]:
    """`n` different names; a name already taken gets a place or branch word added."""
    seen: set[str] = set()
    out = []
    for _ in range(n):
        name = company_name(rng)
        while name in seen:
            name = _variant(name, rng)
        seen.add(name)
        out.append(name)
    return out


def _variant(name: str, rng: random.Random) -> str:
    form = legal_form(name)
    core = name[: len(name) - len(form)].rstrip() if form else name
    extra = rng.choice(PLACES) if rng.random() < 0.7 else f"Werk {rng.randrange(2, 99)}"
    if is_han(name):
        extra = rng.choice(HAN_TRADES) + rng.choice(("一厂", "二厂", "分公司", "集团"))
        return f"{core}{extra}{form}"
    return f"{core} {extra} {form}".strip()


def is_han(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def legal_form(name: str) -> str:
    """The legal form the name ends with, as spelt in it ('' when there is none)."""
    for spelling in _FORM_SPELLINGS:
        if name.endswith(spelling) and (
            len(name) == len(spelling) or is_han(spelling) or name[-len(spelling) - 1] == " "
        ):
            return spelling
    return ""


# -- what banks do to a name ------------------------------------------------------------------


def upper(name: str) -> str:
    return name.upper()


def spell_out_umlauts(name: str) -> str:
    """ä -> ae, ß -> ss; other accents dropped (é -> e, ł -> l), as SEPA's Latin set forces."""
    spelled = "".join(SPELLED.get(ch, ch) for ch in name)
    decomposed = unicodedata.normalize("NFKD", spelled.replace("ł", "l").replace("Ł", "L"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def drop_legal_form(name: str) -> str:
    form = legal_form(name)
    return name[: len(name) - len(form)].rstrip(" ,") if form else name


def respell_legal_form(name: str, rng: random.Random) -> str:
    """The legal form written another way (GmbH -> GMBH, Ltd -> Limited, Co., Ltd. -> Co Ltd)."""
    form = legal_form(name)
    if not form:
        return name
    base = next(f for f, others in FORMS.items() if form == f or form in others)
    choices = [s for s in (base, *FORMS[base]) if s != form]
    return name[: len(name) - len(form)] + rng.choice(choices)


def drop_punctuation(name: str) -> str:
    """Punctuation gone, spaces collapsed ('Co., Ltd.' -> 'Co Ltd', 'S.r.l.' -> 'Srl')."""
    spaced = re.sub(r"[&+]", " ", re.sub(r"[.,'()/]", "", name))
    return re.sub(r"\s+", " ", spaced).strip()


def cut(name: str, width: int) -> str:
    """The name cut at `width` characters, as a fixed-width bank field does."""
    return name[:width].rstrip()


Noise = Callable[[str], str]


def bank_spelling(name: str, rng: random.Random) -> tuple[str, list[str]]:
    """The name as a bank line shows it, and the names of the noise steps applied (in order)."""
    steps: list[tuple[str, Noise]] = []
    if rng.random() < 0.15:
        steps.append(("drop_legal_form", drop_legal_form))
    elif rng.random() < 0.25:
        steps.append(("respell_legal_form", lambda s: respell_legal_form(s, rng)))
    if not is_han(name):
        if rng.random() < 0.5:
            steps.append(("spell_out_umlauts", spell_out_umlauts))
        if rng.random() < 0.3:
            steps.append(("drop_punctuation", drop_punctuation))
        if rng.random() < 0.45:
            steps.append(("upper", upper))
    roll = rng.random()
    if roll < 0.12:
        steps.append(("cut_27", lambda s: cut(s, 27)))
    elif roll < 0.25:
        steps.append(("cut_35", lambda s: cut(s, 35)))
    for _, step in steps:
        name = step(name)
    return name, [label for label, _ in steps]
