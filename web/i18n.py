"""Languages in the web layer: Flask-Babel, the reader's locale, and the language switch.

The locale of a request is, in order: the one the logged-in user saved, the one chosen
with the switch before logging in (kept in the session), the browser's Accept-Language,
then the app's default (`LOCALE`, `FORMWORK_LOCALE`, en_US). It is a full Babel locale
(`de_DE`, `zh_Hans_CN`): the language of the catalogue is taken from it, and dates,
numbers and money are shown and read by it, so a German reader types `1.234,50` in
English pages until a German catalogue exists.

Flask-Babel's `gettext` and Jinja's `{% trans %}`/`_()` read the same in-memory
catalogues as `engine.i18n`, so engine messages and page text agree.
"""

from __future__ import annotations

from typing import Any

from babel import Locale
from babel.numbers import format_decimal
from flask import Blueprint, Flask, current_app, redirect, request, session
from flask_babel import Babel, Domain, get_locale, get_translations
from flask_login import current_user
from jinja2 import pass_eval_context
from markupsafe import Markup

from engine import auth
from engine.i18n import LANGUAGES, N_, localize, parse_locale, translations
from web.auth import _safe_next, login_manager

bp = Blueprint("i18n", __name__)
SESSION_KEY = "locale"
ROLE_LABELS = {
    "admin": N_("administrator"),
    "editor": N_("app editor"),
    "clerk": N_("AR clerk"),
    "collector": N_("collector"),
    "viewer": N_("viewer"),
}


class _CatalogueDomain(Domain):
    """Flask-Babel's domain, reading engine.i18n's catalogues instead of .mo files."""

    def get_translations(self):
        return translations(get_locale())


def init_app(app: Flask) -> None:
    babel = Babel()
    babel.init_app(
        app,
        default_locale=app.config.get("LOCALE") or "en_US",
        locale_selector=select_locale,
    )
    babel.domain_instance = _CatalogueDomain()  # type: ignore[misc]
    # Every `{{ value }}` in a template shows a Message or a Text in the reader's language.
    app.jinja_env.finalize = loc
    app.jinja_env.filters.update(loc=loc, noun=noun, number=number)
    # Replace the i18n extension's callables: these localize their parameters too.
    app.jinja_env.globals.update(
        _=_template_gettext, gettext=_template_gettext, ngettext=_template_ngettext
    )
    login_manager.localize_callback = lambda message: localize(message, get_locale())
    app.jinja_env.globals["role_label"] = lambda role: ROLE_LABELS.get(role, role)
    app.register_blueprint(bp)

    @app.context_processor
    def languages() -> dict[str, Any]:
        current = locale()
        return {
            "languages": LANGUAGES,
            "current_locale": current,
            "current_language": language_of(current),
            "html_lang": html_lang(current),
        }


def loc(value: Any) -> Any:
    """A Message or Text (engine.i18n) in the reader's language; other values unchanged."""
    return localize(value, get_locale())


def noun(label: Any) -> str:
    """A label inside a sentence: "New invoice", but 新建发票 and "New IBAN" as they are."""
    text = str(loc(label))
    english = (get_locale() or Locale("en")).language == "en"
    return text.lower() if english and not text[:2].isupper() else text


def number(value: Any) -> str:
    """A whole number with the locale's grouping: 12,345 or 12.345."""
    return format_decimal(value, locale=locale())


def _(msgid: str, /, **params: Any) -> str:
    """gettext for web/*.py: `_("%(entity)s was saved.", entity=entity.label)`, with
    labels and engine messages among the parameters shown in the reader's language."""
    return _format(get_translations().ugettext(msgid), params)


def ngettext(singular: str, plural: str, num: int, /, **params: Any) -> str:
    return _format(get_translations().ungettext(singular, plural, num), {"num": num, **params})


def _format(text: str, params: dict[str, Any]) -> str:
    return text % {k: loc(v) for k, v in params.items()} if params else text


@pass_eval_context
def _template_gettext(eval_ctx: Any, msgid: str, /, **params: Any) -> str:
    """`{{ _('New %(entity)s', entity=...) }}`; the parameters are escaped (Markup %)."""
    text = get_translations().ugettext(msgid)
    return _format(Markup(text) if eval_ctx.autoescape else text, params)


@pass_eval_context
def _template_ngettext(eval_ctx: Any, singular: str, plural: str, num: int, /, **params: Any):
    text = get_translations().ungettext(singular, plural, num)
    return _format(Markup(text) if eval_ctx.autoescape else text, {"num": num, **params})


def locale() -> str:
    """The request's locale as a Babel identifier, e.g. `zh_Hans_CN`."""
    return str(get_locale() or current_app.config.get("LOCALE") or "en_US")


def select_locale() -> str | None:
    saved = getattr(current_user, "locale", None) if current_user.is_authenticated else None
    for candidate in (saved, session.get(SESSION_KEY)):
        if parse_locale(candidate) is not None:
            return str(parse_locale(candidate))
    for tag, _quality in request.accept_languages:
        parsed = parse_locale(tag)
        if parsed is not None:
            return str(parsed)
    return None


def language_of(locale_name: str) -> str:
    """The switch's entry for a locale: zh_Hans_CN and zh_SG are both 简体中文."""
    parsed = parse_locale(locale_name)
    for key in LANGUAGES:
        option = parse_locale(key)
        if parsed is not None and option is not None and option.language == parsed.language:
            return key
    return next(iter(LANGUAGES))


def html_lang(locale_name: str) -> str:
    """The `lang` attribute: BCP 47, `zh-Hans-CN`, so browsers pick CJK fonts."""
    parsed = parse_locale(locale_name) or Locale("en")
    return "-".join(p for p in (parsed.language, parsed.script, parsed.territory) if p)


@bp.route("/language", methods=["POST"])
def set_language():
    """The switch in the page header: saved for the user, or in the session before log-in."""
    choice = parse_locale(request.form.get("locale"))
    if choice is not None:
        name = str(choice)
        session[SESSION_KEY] = name
        if current_user.is_authenticated:
            from web.context import formwork

            auth.set_locale(formwork().db, current_user.id, name)
    return redirect(_safe_next(request.form.get("next")))
