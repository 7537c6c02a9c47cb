"""Two languages: every marked string has a Chinese translation, and pages follow the reader.

The catalogue test extracts messages from the sources exactly as `pybabel extract -F
babel.cfg` does, so a string wrapped in `_()` without a zh translation fails here.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from engine.auth import get_user
from engine.i18n import (
    CATALOGUES,
    Message,
    Text,
    _,
    catalogue_for,
    catalogue_languages,
    localize,
    translations,
)

ROOT = Path(__file__).resolve().parent.parent
ZH = "zh_Hans"


def extracted() -> dict[str, list[str]]:
    """msgid (a plural's singular) -> where it is used, from every file babel.cfg names."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


def zh_catalogue():
    with (CATALOGUES / ZH / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=ZH)


def test_the_sources_mark_strings_for_translation() -> None:
    found = extracted()
    assert "Log in" in found  # templates
    assert "Wrong user name or password." in found  # web/*.py
    assert len(found) > 80


def test_every_user_visible_string_has_a_chinese_translation() -> None:
    catalogue = zh_catalogue()
    missing = []
    for msgid, where in sorted(extracted().items()):
        entry = catalogue.get(msgid)
        strings = entry.string if entry is not None else ""
        strings = strings if isinstance(strings, tuple) else (strings,)
        if entry is None or entry.fuzzy or not all(s.strip() for s in strings):
            missing.append(f"{where[0]}: {msgid!r}")
    assert not missing, (
        "strings without a zh translation (add them to "
        "engine/translations/zh_Hans/LC_MESSAGES/messages.po, see README):\n" + "\n".join(missing)
    )


def test_translations_keep_their_placeholders() -> None:
    """`%(name)s` in a msgid must be in its translation, with the same type (Babel's check)."""
    problems = [
        f"{message.id!r}: {'; '.join(str(e) for e in errors)}"
        for message, errors in zh_catalogue().check()
    ]
    assert not problems, "\n".join(problems)


def test_no_translation_is_left_for_a_string_the_sources_no_longer_use() -> None:
    used = set(extracted())
    ids = [m.id[0] if isinstance(m.id, tuple) else m.id for m in zh_catalogue()]
    stale = [msgid for msgid in ids if msgid and msgid not in used]
    assert not stale, f"remove these from the zh catalogue (`pybabel update` marks them): {stale}"


# -- engine.i18n --------------------------------------------------------------------------


def test_a_message_is_english_text_until_it_is_localized() -> None:
    message = _("must be at least %(min)s", min=5)
    assert message == "must be at least 5" and isinstance(message, str)
    assert message.msgid == "must be at least %(min)s"
    assert localize(message, "en_US") == "must be at least 5"
    assert pickle.loads(pickle.dumps(message)).msgid == message.msgid


def test_text_gives_each_reader_their_language() -> None:
    label = Text({"en": "Invoice", "zh": "发票"})
    assert label == "Invoice"
    assert localize(label, "zh_Hans_CN") == "发票"
    assert localize(label, "zh-CN") == "发票"
    assert localize(label, "de_DE") == "Invoice"
    assert localize(Text("Plain"), "zh_Hans_CN") == "Plain"
    assert Text({"zh": "只有中文"}) == "只有中文"
    assert pickle.loads(pickle.dumps(label)).by_language == label.by_language
    assert localize(42, "zh_Hans_CN") == 42


def test_chinese_locales_all_read_the_simplified_catalogue() -> None:
    assert ZH in catalogue_languages()
    for locale in ("zh_Hans_CN", "zh_CN", "zh-SG", "zh"):
        assert catalogue_for(locale) == ZH
    assert catalogue_for("en_US") is None and catalogue_for("de_DE") is None
    assert catalogue_for("not a locale") is None
    assert translations("zh_CN").ugettext("Log in") == "登录"


def test_parameters_are_localized_too() -> None:
    amount = Text({"en": "Amount", "zh": "金额"})
    inner = Message("%(label)s: %(value)s", {"label": amount, "value": 5})
    outer = Message("(%(inner)s)", {"inner": inner})
    assert outer == "(Amount: 5)"
    assert localize(outer, "zh_Hans_CN") == "(金额: 5)"


# -- the web layer ------------------------------------------------------------------------


def test_accept_language_picks_the_page_language(client) -> None:
    html = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}).get_data(
        as_text=True
    )
    assert '<html lang="zh-Hans-CN">' in html and "登录" in html
    english = client.get("/login", headers={"Accept-Language": "en-GB"}).get_data(as_text=True)
    assert '<html lang="en-GB">' in english and "Log in" in english and "登录" not in english


def test_the_language_switch_works_before_log_in(client) -> None:
    answer = client.post("/language", data={"locale": "zh_Hans_CN", "next": "/login"})
    assert answer.status_code == 302 and answer.headers["Location"] == "/login"
    assert "用户名" in client.get("/login").get_data(as_text=True)


def test_a_user_s_choice_is_saved_and_beats_the_browser(app, login) -> None:
    client = login("clerk")
    answer = client.post(
        "/language", data={"locale": "zh_Hans_CN", "next": "https://evil.example/"}
    )
    assert answer.headers["Location"] == "/"  # never away from this site
    db = app.extensions["formwork"].db
    user = next(u for u in _users(db) if u.username == "clerk")
    assert get_user(db, user.id).locale == "zh_Hans_CN"
    fresh = app.test_client()  # a new session: the saved choice comes from the user
    fresh.post("/login", data={"username": "clerk", "password": "clerk-pass"})
    html = fresh.get("/", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    assert '<html lang="zh-Hans-CN">' in html and "退出登录" in html


def test_a_locale_that_is_not_one_is_ignored(client) -> None:
    client.post("/language", data={"locale": "../../etc"})
    html = client.get("/login", headers={"Accept-Language": "xx-YY"}).get_data(as_text=True)
    assert '<html lang="en-US">' in html


def _users(db):
    from engine.auth import list_users

    return list_users(db)


# -- pages in Chinese ---------------------------------------------------------------------

ZH_HEADERS = {"Accept-Language": "zh-CN"}


def _page(client, url: str, **kw) -> str:
    from html import unescape

    answer = client.get(url, headers=ZH_HEADERS, **kw)
    return unescape(answer.get_data(as_text=True))


def test_record_pages_speak_chinese(app, login) -> None:
    repo = app.extensions["formwork"].db.repository(_system())
    customer = repo.create("receivables.customer", {"name": "华信贸易"})
    client = login("admin")
    listing = _page(client, "/receivables/customer/")
    for text in ("新建", "搜索", "筛选", "首页", "退出登录"):
        assert text in listing
    for english in ("New customer", "Search customers", "Apply", "Log out", ">Home<"):
        assert english not in listing
    detail = _page(client, f"/receivables/customer/{customer['id']}")
    assert "变更历史" in detail and "编辑" in detail and "<strong>创建</strong>" in detail
    assert "History" not in detail and ">Edit<" not in detail
    form = _page(client, "/receivables/customer/new")
    assert "取消" in form and "必填" in form and "Cancel" not in form
    delete = _page(client, f"/receivables/customer/{customer['id']}/delete")
    assert "此操作无法撤销" in delete
    missing = _page(client, "/receivables/customer/999999")
    assert "不存在" in missing and "错误 404" in missing


def test_form_errors_read_as_chinese_sentences(app, login) -> None:
    from html import unescape

    client = login("admin")
    answer = client.post(
        "/receivables/customer/new", data={"name": "", "currency": "EUR"}, headers=ZH_HEADERS
    )
    html = unescape(answer.get_data(as_text=True))
    assert answer.status_code == 422
    assert "无法保存" in html and "有 1 处问题" in html
    assert "名称为必填项" in html  # label and engine message, as one Chinese sentence
    answer = client.post(
        "/receivables/customer/new",
        data={"name": "华信", "currency": "EUR", "credit_limit": "12,x"},
        headers=ZH_HEADERS,
    )
    assert "信用额度不是数字" in unescape(answer.get_data(as_text=True))


def test_money_is_read_in_the_reader_s_locale(app, login) -> None:
    """A German reader types 1.234,50; the same text in English is refused, not misread."""
    repo = app.extensions["formwork"].db.repository(_system())
    client = login("admin")
    form = {"name": "Müller GmbH", "currency": "EUR", "credit_limit": "1.234,50"}
    answer = client.post(
        "/receivables/customer/new", data=form, headers={"Accept-Language": "de-DE"}
    )
    assert answer.status_code == 302
    saved = repo.get("receivables.customer", int(answer.headers["Location"].rsplit("/", 1)[1]))
    assert str(saved["credit_limit"]) == "1234.50"
    english = client.post(
        "/receivables/customer/new",
        data={**form, "name": "Other"},
        headers={"Accept-Language": "en-US"},
    )
    assert english.status_code == 422


def test_flash_messages_are_translated_when_they_are_made(app, login) -> None:
    client = login("admin")
    answer = client.post(
        "/receivables/customer/new",
        data={"name": "华信贸易", "currency": "EUR", "payment_terms_days": "30"},
        headers=ZH_HEADERS,
        follow_redirects=True,
    )
    assert "已创建" in answer.get_data(as_text=True)


def _system():
    from engine.permissions import Principal

    return Principal.system("test")


# -- texts in the definitions -------------------------------------------------------------


def _has_chinese(value: str) -> bool:
    from engine.i18n import parse_locale

    versions = getattr(value, "by_language", {})
    return any((parse_locale(k) or parse_locale("en")).language == "zh" for k in versions)


def definition_texts(appset):
    """(where, text) for every text of the definitions that people read."""
    for app in appset.apps.values():
        yield f"{app.name}: title", app.title
        yield f"{app.name}: description", app.description
        for e in app.entities.values():
            where = f"{e.qualname}"
            yield f"{where}: label", e.label
            yield f"{where}: plural", e.plural
            yield f"{where}: description", e.description
            for i, section in enumerate(e.sections):
                yield f"{where}: sections[{i}].title", section.title
            for i, check in enumerate(e.checks):
                yield f"{where}: checks[{i}].message", check.message
            for f in e.fields.values():
                yield f"{where}.{f.name}: label", f.label
                yield f"{where}.{f.name}: help", f.help
                for option in f.options:
                    yield f"{where}.{f.name}: option {option}", f.option_label(option)


def test_every_text_of_the_shipped_apps_is_given_in_chinese(appset) -> None:
    missing = [
        where for where, value in definition_texts(appset) if value and not _has_chinese(value)
    ]
    assert not missing, "add a zh version (label: {en: ..., zh: ...}) to:\n" + "\n".join(missing)


def test_labels_options_and_messages_may_be_given_per_language(tmp_path) -> None:
    from engine.appdef import load_apps

    (tmp_path / "shop.yaml").write_text(
        """
app: shop
title: {en: Shop, zh: 商店}
entities:
  order:
    label: {en: Order, zh: 订单}
    fields:
      number: {type: string, label: {zh: 订单号}}
      state:
        type: choice
        options: [{value: in_progress, label: {en: Being packed, zh: 打包中}}, {value: sent}]
      size: {type: choice, options: {small: {zh: 小}, large: 大号}}
      plain: {type: choice, options: [in_progress, done]}
    sections: [{title: {en: Order, zh: 订单}, fields: [number]}]
    checks:
      - {when: "number == 'x'", message: {en: Not x, zh: 不能是 x}}
""",
        encoding="utf-8",
    )
    order = load_apps([tmp_path]).entity("shop.order")
    zh = "zh_Hans_CN"
    assert (order.label, localize(order.label, zh)) == ("Order", "订单")
    assert (order.plural, localize(order.plural, zh)) == ("Orders", "订单")
    number = order.fields["number"]
    assert (number.label, localize(number.label, zh)) == ("Number", "订单号")
    state, size, plain = (order.fields[n] for n in ("state", "size", "plain"))
    assert state.options == ("in_progress", "sent")
    assert localize(state.option_label("in_progress"), zh) == "打包中"
    assert state.option_label("sent") == "Sent"
    assert size.options == ("small", "large")
    assert (size.option_label("small"), localize(size.option_label("small"), zh)) == ("Small", "小")
    assert localize(size.option_label("large"), zh) == "大号"
    assert plain.option_label("in_progress") == "In progress"
    assert localize(order.checks[0].message, zh) == "不能是 x"
    assert localize(order.sections[0].title, zh) == "订单"
    assert plain.value_type.format("in_progress", plain, zh) == "In progress"
    assert state.value_type.format("in_progress", state, zh) == "打包中"


def test_a_text_in_an_unknown_shape_is_a_located_error(tmp_path) -> None:
    from engine.appdef import load_apps
    from engine.errors import DefinitionErrors

    (tmp_path / "shop.yaml").write_text(
        "app: shop\nentities:\n  order:\n    label: {english: Order}\n"
        "    fields: {number: {type: string}}\n",
        encoding="utf-8",
    )
    try:
        load_apps([tmp_path])
    except DefinitionErrors as exc:
        assert "shop.yaml:4:" in str(exc) and "entities.order.label" in str(exc)
    else:
        raise AssertionError("a label keyed by 'english' loaded")


def test_choice_labels_show_in_lists_forms_and_filters(app, login) -> None:
    repo = app.extensions["formwork"].db.repository(_system())
    customer = repo.create("receivables.customer", {"name": "华信贸易"})
    repo.create(
        "collections.collection_task",
        {"title": "Call", "customer": customer["id"], "status": "in_progress"},
    )
    client = login("admin")
    english = client.get("/collections/collection_task/").get_data(as_text=True)
    assert "<td>In progress</td>" in english.replace("\n", "")
    assert '<option value="in_progress">In progress</option>' in english
    chinese = _page(client, "/collections/collection_task/")
    assert "进行中" in chinese and "In progress" not in chinese and "催收任务" in chinese
    form = _page(client, "/collections/collection_task/new")
    assert '<option value="in_progress">进行中</option>' in form
    assert "优先级" in form


def test_dates_and_times_are_shown_in_the_reader_s_locale() -> None:
    import datetime as dt

    from engine.fieldtypes import FIELD_TYPES

    day, moment = dt.date(2026, 3, 31), dt.datetime(2026, 3, 31, 14, 30, tzinfo=dt.UTC)
    date, when = FIELD_TYPES["date"], FIELD_TYPES["datetime"]
    assert date.format(day, None) == "2026-03-31"  # no reader: ISO (messages, exports)
    assert date.format(day, None, "en_US") == "Mar 31, 2026"
    assert date.format(day, None, "de_DE") == "31.03.2026"
    assert date.format(day, None, "zh_Hans_CN") == "2026年3月31日"
    assert when.format(moment, None, "zh_Hans_CN") == "2026年3月31日 14:30 UTC"
    assert when.format(moment, None, "de_DE") == "31.03.2026 14:30 UTC"
    assert date.parse("31.03.2026", None, "de_DE") == day
