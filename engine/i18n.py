"""Translatable text for the engine, without Flask: messages now, the language later.

The engine does not know who reads its messages, so it cannot translate them when it
makes them. `_("must be at least %(min)s", min=0)` returns a `Message`: a `str` whose
value is the English text (so logs, the CLI, tests and code that compares strings keep
working), which also remembers its msgid and parameters, so that an interface that knows
the reader's locale (the web layer) can ask for `localize(message, "zh_Hans_CN")`.
`Text` is the same idea for labels written in the YAML: `{en: Invoice, zh: 发票}`.

Catalogues live in engine/translations/<language>/LC_MESSAGES/messages.po and are read
(and compiled in memory) on first use, so a fresh clone needs no `pybabel compile` step.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

CATALOGUES = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"
SOURCE_LANGUAGE = "en"
# What the language switch offers: the locale a choice sets, and its name in itself.
LANGUAGES: Mapping[str, str] = {"en_US": "English", "zh_Hans_CN": "简体中文"}


def _(msgid: str, /, **params: Any) -> Message:
    """Mark `msgid` for translation; `%(name)s` placeholders take `params`."""
    return Message(msgid, params)


# `N_` marks text that is translated elsewhere (tables of labels): pybabel extracts it too.
N_ = _


class Message(str):
    """English text that can be rendered in another language later (see `localize`)."""

    msgid: str
    params: Mapping[str, Any]

    def __new__(cls, msgid: str, params: Mapping[str, Any] | None = None) -> Message:
        params = dict(params or {})
        self = super().__new__(cls, msgid % params if params else msgid)
        self.msgid, self.params = msgid, params
        return self

    def __reduce__(self) -> tuple[Any, ...]:  # pickle and copy keep the msgid
        return (Message, (self.msgid, self.params))

    def localize(self, locale: str | Locale | None) -> str:
        text = translations(locale).ugettext(self.msgid)
        if not self.params:
            return text
        return text % {k: localize(v, locale) for k, v in self.params.items()}


class Text(str):
    """A text from a definition, possibly given per language: `{en: Invoice, zh: 发票}`.

    As a `str` it is the English (or only) version; `localize` picks the reader's.
    """

    by_language: Mapping[str, str]

    def __new__(cls, value: str | Mapping[str, str]) -> Text:
        if isinstance(value, Mapping):
            versions = {_language_key(k): str(v) for k, v in value.items()}
            default = versions.get(SOURCE_LANGUAGE) or next(iter(versions.values()), "")
        else:
            versions, default = {}, str(value)
        self = super().__new__(cls, default)
        self.by_language = versions
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (Text, (dict(self.by_language) or str(self),))

    def lower(self) -> Text:
        """Lower case in every language ("New invoice"), so a label stays translatable."""
        return self.map(str.lower)

    def map(self, change: Callable[[str], str]) -> Text:
        """The same text with `change` applied to each language's version."""
        if not self.by_language:
            return Text(change(str(self)))
        return Text({k: change(v) for k, v in self.by_language.items()})

    def localize(self, locale: str | Locale | None) -> str:
        parsed = parse_locale(locale)
        if parsed is None or not self.by_language:
            return str(self)
        for key in _candidates(parsed):
            if key in self.by_language:
                return self.by_language[key]
        return str(self)


def text(raw: str | Mapping[str, str] | None, default: str = "") -> Text:
    """A definition's text: `Invoice`, or `{en: Invoice, zh: 发票}`; a mapping without an
    English version takes `default` (e.g. the field name made readable) as English."""
    if isinstance(raw, Mapping):
        versions = {_language_key(k): str(v) for k, v in raw.items()}
        if SOURCE_LANGUAGE not in versions and default:
            versions[SOURCE_LANGUAGE] = default
        return Text(versions)
    return Text(raw if raw not in (None, "") else default)


class Derived(str):
    """A translatable text with a change applied in every language (capitalised, lower case)."""

    source: str
    change: Callable[[str], str]

    def __new__(cls, source: str, change: Callable[[str], str]) -> Derived:
        self = super().__new__(cls, change(str(source)))
        self.source, self.change = source, change
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (Derived, (self.source, self.change))

    def localize(self, locale: str | Locale | None) -> str:
        return self.change(str(localize(self.source, locale)))


def derived(value: str, change: Callable[[str], str]) -> str:
    """`change(value)`, kept translatable when `value` is."""
    return Derived(value, change) if callable(getattr(value, "localize", None)) else change(value)


def message_of(exc: BaseException) -> str:
    """An exception's message, still translatable: `str(exc)` would make it plain English."""
    arg = exc.args[0] if len(exc.args) == 1 else None
    return arg if isinstance(arg, str) else str(exc)


def plain(data: Any) -> Any:
    """`data` with every translatable text made a plain `str` (its English), for encoders
    that refuse subclasses of str (JSON Schema validators written in Rust, for one)."""
    if isinstance(data, str):
        return str(data)
    if isinstance(data, Mapping):
        return {plain(k): plain(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [plain(v) for v in data]
    return data


def localize(value: Any, locale: str | Locale | None) -> Any:
    """`value` in the reader's language when it is translatable; other values unchanged."""
    method = getattr(value, "localize", None)
    return method(locale) if callable(method) else value


def parse_locale(locale: str | Locale | None) -> Locale | None:
    """A Babel locale from `zh_Hans_CN`, `zh-CN`, `de_DE`...; None when it names none."""
    if locale is None or isinstance(locale, Locale):
        return locale
    try:
        return Locale.parse(str(locale).strip().replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return None


def _language_key(key: str) -> str:
    """`zh-CN`, `zh_Hans`, `ZH` -> the form _candidates yields (`zh_Hans_CN`, `zh_Hans`, `zh`)."""
    parsed = parse_locale(key)
    return str(parsed) if parsed is not None else str(key)


def _candidates(locale: Locale) -> list[str]:
    """Most specific first: zh_Hans_CN, zh_Hans, zh_CN, zh."""
    names = [str(locale)]
    if locale.script:
        names.append(f"{locale.language}_{locale.script}")
    if locale.territory:
        names.append(f"{locale.language}_{locale.territory}")
    names.append(locale.language)
    return list(dict.fromkeys(names))


def catalogue_languages() -> tuple[str, ...]:
    """Languages with a catalogue in the repository, e.g. ('zh_Hans',)."""
    return tuple(
        sorted(p.parent.parent.name for p in CATALOGUES.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    )


def catalogue_for(locale: str | Locale | None) -> str | None:
    """The catalogue that serves `locale`: zh_CN, zh_SG and zh all read zh_Hans."""
    parsed = parse_locale(locale)
    if parsed is None or parsed.language == SOURCE_LANGUAGE:
        return None
    available = catalogue_languages()
    for name in _candidates(parsed):
        if name in available:
            return name
    same_language = [c for c in available if c.split("_")[0] == parsed.language]
    return same_language[0] if same_language else None


def translations(locale: str | Locale | None) -> NullTranslations:
    """The compiled catalogue for `locale` (English, the source language, has none)."""
    name = catalogue_for(locale)
    return _compiled(name) if name else NullTranslations()


@cache
def _compiled(language: str) -> Translations:
    """Read the .po and compile it in memory: no .mo files to build or keep in sync."""
    with (CATALOGUES / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        catalogue = read_po(po, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalogue, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def reload_catalogues() -> None:
    """Forget compiled catalogues (after editing a .po in a running process, and in tests)."""
    _compiled.cache_clear()
