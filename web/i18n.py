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
from flask import Blueprint, Flask, current_app, redirect, request, session
from flask_babel import Babel, Domain, get_locale
from flask_login import current_user

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
    app.jinja_env.finalize = lambda value: localize(value, get_locale())
    app.jinja_env.filters["loc"] = lambda value: localize(value, get_locale())
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
