"""Expression errors are sentences a Chinese reader can read too, with the YAML place kept.

A computed value or a check that fails while it runs ends up beside a form field; the
message is made in the engine (which does not know the reader) and translated by the web
layer, so every part of it must stay a `Message` on the way, nested ones included.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from engine.appdef import AppSet, load_apps
from engine.errors import ValidationError
from engine.expr import ExpressionError, compile_expression
from engine.i18n import Message, localize
from engine.storage import Repository

ZH = "zh_Hans_CN"

APP = """\
app: shop
entities:
  line:
    fields:
      total: {type: decimal, required: true}
      quantity: {type: integer, required: true}
      unit_price: {type: computed, result: decimal, expr: "total / quantity"}
    checks:
      - when: "days(quantity) > total"
        message: {en: Too many days, zh: 天数太多}
"""


@pytest.fixture
def shop(tmp_path: Path) -> AppSet:
    (tmp_path / "shop.yaml").write_text(APP, encoding="utf-8")
    return load_apps([tmp_path])


def test_a_runtime_failure_reads_in_chinese_with_its_place() -> None:
    expr = compile_expression("1 / x", where="shop.yaml:7:45 entities.line.fields.x")
    with pytest.raises(ExpressionError) as caught:
        expr.evaluate({"x": 0})
    assert str(caught.value) == (
        "division by zero (expression at shop.yaml:7:45 entities.line.fields.x)"
    )
    assert localize(caught.value.located, ZH) == (
        "除数为零（表达式位于 shop.yaml:7:45 entities.line.fields.x）"
    )


@pytest.mark.parametrize(
    ("source", "english", "chinese"),
    [
        ("lowr(name)", "lowr() is not a known function (did you mean 'lower'?)", "不是已知的函数"),
        ("lower(a, b)", "lower() does not take 2 arguments: lower(text)", "不接受 2 个参数"),
        ("'%d' % 1", None, "只用于数字"),
        ("", "the expression is empty", "表达式为空"),
        ("amount +", "syntax error at the end: invalid syntax", "末尾处有语法错误"),
    ],
)
def test_compile_errors_are_translatable(source: str, english: str | None, chinese: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source).evaluate({})
    message = caught.value.message
    assert isinstance(message, Message)
    if english is not None:
        assert message == english
    assert chinese in localize(message, ZH)


def test_a_failed_computed_value_and_check_are_translated_beside_the_field(
    shop: AppSet, repository_for: Callable[[AppSet], Repository]
) -> None:
    repo = repository_for(shop)
    with pytest.raises(ValidationError) as caught:
        repo.create("shop.line", {"total": "10", "quantity": 0})
    computed = caught.value.errors["unit_price"]
    assert computed.startswith("could not be computed: division by zero (expression at ")
    assert localize(computed, ZH).startswith("无法计算：除数为零（表达式位于 ")
    assert "shop.yaml" in localize(computed, ZH)

    with pytest.raises(ValidationError) as caught:
        repo.create("shop.line", {"total": "10", "quantity": 10**12})
    check = caught.value.errors[""]
    assert check.startswith("check failed to run: days(1000000000000) is more days")
    assert localize(check, ZH).startswith(
        "校验无法执行：days(1000000000000) 超出了日期可移动的天数"
    )
