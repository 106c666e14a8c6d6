"""Text from outside (model output, endpoint errors, dataset fields, typed names) is shown as plain text on
the Human Evaluation, Home and Settings pages (issue 11.7): in a code/text element, or as Markdown whose every
markup character is escaped. Markdown left live would let an endpoint make the page load an image from its
own URL, render links, bold or KaTeX."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from streamlit.testing.v1 import AppTest

from core.datasets.records import EvalTask, Instance
from core.humaneval.campaign import CampaignSpec
from core.llm import ModelSettings
from core.plaintext import escape_markdown
from core.store import evalset
from core.store import ratings as rating_store
from core.store import runs as run_store
from tests.pages import open_page

IMAGE = "![x](http://127.0.0.1:9/x.png)"
PAYLOAD = f"{IMAGE} **bold** $x^2$ <script>alert(1)</script> [link](http://127.0.0.1:9/) :red[red]"
# What must never reach a Markdown-rendering element unescaped.
RAW = (IMAGE, "**bold**", "$x^2$", "<script>", "](http", ":red[")

# Elements whose text Streamlit renders as Markdown (bodies), and widget fields it renders as Markdown.
MARKDOWN_ELEMENTS = {
    "markdown",
    "caption",
    "error",
    "warning",
    "info",
    "success",
    "toast",
    "title",
    "header",
    "subheader",
    "exception",
    "latex",
}
MARKDOWN_FIELDS = ("label", "help", "placeholder")

pytestmark = pytest.mark.usefixtures("owner_password")


def _nodes(at: AppTest) -> Iterator:
    def walk(node):
        yield node
        for child in getattr(node, "children", {}).values():
            yield from walk(child)

    for root in at._tree.children.values():
        yield from walk(root)


def markdown_texts(at: AppTest) -> list[str]:
    """Every string the page hands to Streamlit's Markdown renderer."""
    texts = []
    for node in _nodes(at):
        kind = getattr(node, "type", "")
        if kind in MARKDOWN_ELEMENTS and isinstance(getattr(node, "value", None), str):
            texts.append(node.value)
        proto = getattr(node, "proto", None)
        for name in MARKDOWN_FIELDS:
            value = getattr(proto, name, None) if proto is not None else None
            if isinstance(value, str) and value:
                texts.append(value)
        if kind in ("radio", "segmented_control", "button_group") and proto is not None:
            texts += [str(o) for o in getattr(node, "options", [])]
        if kind == "expandable" and proto is not None:
            texts.append(str(proto))
    return texts


def plain_texts(at: AppTest) -> list[str]:
    return [node.value for node in _nodes(at) if getattr(node, "type", "") in ("code", "text")]


def assert_literal(at: AppTest, payload: str = PAYLOAD) -> None:
    assert not at.exception, [e.value for e in at.exception]
    for text in markdown_texts(at):
        for raw in RAW:
            assert raw not in text, f"{raw!r} reaches Markdown unescaped in {text!r}"
    # The payload is shown, literally: in a code/text element, or escaped inside Markdown.
    shown = plain_texts(at) + markdown_texts(at)
    assert any(payload in t or escape_markdown(payload) in t for t in shown), "payload not shown at all"


def _open(page: str, owner: bool = False, rater: str = "ann", state: dict | None = None) -> AppTest:
    """`page`; the Human Evaluation page as the rater `rater`, or as the owner (proved) with `owner`."""
    if page != "pages/humaneval.py":
        return open_page(page, state=state)
    return open_page(page, rater="olga" if owner else rater, role="owner" if owner else "rater", state=state)


def _seed(store) -> int:
    tasks = [
        EvalTask("t1", f"App {PAYLOAD}", f"Do this: {PAYLOAD}", [Instance(f"In {PAYLOAD}", f"Ref {PAYLOAD}")])
    ]
    evalset.import_set(store, "render-set", tasks, actor="olga")
    rating_store.save_responses(store, "render-set", "m1", {"t1": PAYLOAD}, "test")
    spec = CampaignSpec(name="Render", task_ids=("t1",), models=("m1",), raters=("ann",))
    return rating_store.create_campaign(store, spec.name, "render-set", spec.to_dict(), owner="olga")


def test_rating_page_shows_task_and_response_literally(store):
    _seed(store)
    at = _open("pages/humaneval.py")
    assert_literal(at)
    assert PAYLOAD in plain_texts(at)  # the response, character for character
    assert f"In {PAYLOAD}" in plain_texts(at)


def test_a_rater_name_with_markup_is_shown_literally(store):
    at = _open("pages/humaneval.py", rater="**eve** ![x](http://127.0.0.1:9/x.png)")
    assert_literal(at, "**eve** ![x](http://127.0.0.1:9/x.png)")


def test_task_curation_page_shows_dataset_fields_literally(store):
    _seed(store)
    at = _open("pages/humaneval.py", owner=True)
    at.selectbox(key="heval-set").set_value("render-set").run()
    assert_literal(at)
    # A flash message naming the task (ids come from files) is escaped as well.
    next(b for b in at.button if b.label == "Delete this task").click()
    at.run()
    assert_literal(at, "Deleted t1; turn on “Deleted too” to find and restore it.")


def test_failed_run_error_from_an_endpoint_is_plain_text(store):
    run_id = run_store.create_run(store, "datasets", {}, name="x")
    run_store.update_run(store, run_id, status="failed", error=f"endpoint said: {PAYLOAD}", message=PAYLOAD)
    at = _open("pages/settings.py", state={"datasets_run": run_id})
    assert_literal(at, f"endpoint said: {PAYLOAD}")
    assert any(escape_markdown(f"endpoint said: {PAYLOAD}") == e.value for e in at.error)


class _MarkupErrorEndpoint:
    """A loopback OpenAI-style endpoint that refuses every request with a 400 whose message is markup."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                body = json.dumps({"error": {"message": PAYLOAD, "type": "invalid_request_error"}}).encode()
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_endpoint_error_and_model_name_on_settings_and_home_are_plain_text(store):
    endpoint = _MarkupErrorEndpoint()
    try:
        settings = ModelSettings(
            provider="openai",
            base_url=endpoint.base_url,
            model="**m** $x^2$",
            api_key="sk-test",
            styles=("completion",),
            max_retries=0,
        )
        at = _open("pages/settings.py", state={"model_settings": settings})
        next(b for b in at.button if b.label == "Generate a sample completion").click()
        at.run()
        assert at.error, "the endpoint's refusal is shown"
        assert_literal(at)
        home = _open("pages/home.py", state={"model_settings": settings})
        assert_literal(home, settings.label)
    finally:
        endpoint.stop()
