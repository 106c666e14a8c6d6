"""Secrets tested so they can fail: a marker key and a URL password are configured, an endpoint echoes
them back, and the database, the data folder, the command lines' output, exports and the fully rendered
Call log page are searched for them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from core.generation import GenerationItem, generation_params
from core.jobs.runner import execute, start_here
from core.llm import GenParams, LLMClient, LLMError, ModelSettings, Request, make_provider
from core.llm.redact import public_url, redact, register_secret
from core.store import calls as call_log
from core.store import runs as run_store
from tests.conftest import app_env, run_cli
from tests.llm_servers import FaultServer, LlamaServer
from tests.pages import open_page, rendered
from tests.safety import BASIC, KEY, PASSWORD, PLAIN_KEY, USER, assert_no_secret_in, leaks

SECRETS = (KEY, PLAIN_KEY, PASSWORD, BASIC)


@pytest.fixture()
def fault():
    servers: list[FaultServer] = []

    def start(script: list[str]) -> FaultServer:
        servers.append(FaultServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def test_redaction_masks_the_configured_key_keys_tokens_and_url_credentials(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", PLAIN_KEY)
    register_secret(PASSWORD)
    text = (
        f"Incorrect API key provided: {PLAIN_KEY}; also sk-proj-abc123DEF456 and sk-****wxyz; "
        f"Authorization: Bearer tok.en-1; Basic {BASIC}; http://{USER}:{PASSWORD}@host:8000/v1 ({PASSWORD})"
    )
    masked = redact(text)
    assert not leaks(masked, PLAIN_KEY, PASSWORD, BASIC, "sk-proj-abc123DEF456", "tok.en-1", "wxyz", USER)
    assert masked.startswith("Incorrect API key provided: [redacted];")
    assert "http://[redacted]@host:8000/v1" in masked
    # Ordinary text is left alone.
    assert (
        redact("the sky is blue; ask-me-anything; http://host/v1")
        == "the sky is blue; ask-me-anything; http://host/v1"
    )
    assert (
        public_url(f"https://{USER}:{PASSWORD}@api.example.com:8443/v1") == "https://api.example.com:8443/v1"
    )


def _settings(base_url: str, key: str, model: str = "m") -> ModelSettings:
    return ModelSettings(provider="openai", base_url=base_url, model=model, api_key=key, max_retries=1)


def test_an_echoed_key_and_url_password_reach_no_error_log_or_run(data_dir, sqlite_engine, fault):
    """The key lives in this session's settings only (not the environment), and the endpoint echoes it."""
    server = fault(["401-echo"])
    settings = _settings(server.url_with_credentials(USER, PASSWORD), PLAIN_KEY)
    items = [GenerationItem(key="a", prompt="Say hi", params={"max_tokens": 4})]
    run, worker = start_here(sqlite_engine, "generate", generation_params(items, settings.public_dict()))
    assert execute(sqlite_engine, run, worker, settings) == "failed"
    stored = run_store.get_run(sqlite_engine, run.id)
    assert "HTTP 401: Incorrect API key provided: [redacted]" in stored.error
    assert server.base_url + "/completions" in stored.error  # the endpoint, named without its credentials
    assert stored.params["model"]["base_url"] == server.base_url
    (call,) = call_log.list_calls(sqlite_engine)
    assert call.endpoint == server.base_url and call.error == stored.error
    assert server.authorization == [f"Basic {BASIC}"]  # the credentials were used for the request
    assert_no_secret_in(data_dir, *SECRETS)


def test_the_store_redacts_whatever_error_it_is_given(data_dir, sqlite_engine, monkeypatch):
    """A path that forgets to redact still stores nothing secret: the store is the second guard."""
    monkeypatch.setenv("OPENAI_API_KEY", PLAIN_KEY)
    run_id = run_store.create_run(
        sqlite_engine, "generate", {"model": {"base_url": f"http://{USER}:{PASSWORD}@h/v1"}}, worker="w"
    )
    run_store.update_run(sqlite_engine, run_id, message=f"retrying with {PLAIN_KEY}")
    run_store.finish_run(sqlite_engine, run_id, "w", "failed", f"RuntimeError: key {PLAIN_KEY} rejected")
    run = run_store.get_run(sqlite_engine, run_id)
    assert run.error == "RuntimeError: key [redacted] rejected" and run.message == "retrying with [redacted]"
    assert run.params["model"]["base_url"] == "http://h/v1"
    record = call_log.CallRecord(
        cache_key="k",
        provider="openai",
        endpoint=f"http://{USER}:{PASSWORD}@h/v1",
        model="m",
        style="completion",
        prompt="p",
        messages=None,
        params={},
        sample_index=0,
        choices=None,
        error=f"HTTP 401: Incorrect API key provided: {PLAIN_KEY}",
    )
    call_log.log_call(sqlite_engine, record)
    (call,) = call_log.list_calls(sqlite_engine)
    assert call.endpoint == "http://h/v1" and call.error == "HTTP 401: Incorrect API key provided: [redacted]"
    assert_no_secret_in(data_dir, *SECRETS)


def _cli(data: Path, module: str, key: str, *args: str) -> subprocess.CompletedProcess:
    # One request at a time, waited for patiently: the small llama.cpp server answers one after another.
    env = app_env(
        data,
        without=("DATABASE_URL", "OPENAI_BASE_URL"),
        OPENAI_API_KEY=key,
        WORKBENCH_MAX_RETRIES="1",
        WORKBENCH_MAX_CONCURRENCY="1",
        WORKBENCH_TIMEOUT_S="900",
    )
    return run_cli(module, *args, env=env, timeout_s=1500)


def _selfinstruct(data: Path, key: str, url: str, model: str) -> subprocess.CompletedProcess:
    # One generation request (the command line's default is the paper's 5): the one the faults answer.
    flags = [
        "--seeds",
        "starter",
        "--iterations",
        "1",
        "--requests",
        "1",
        "--no-instances",
        "--max-tokens",
        "24",
    ]
    return _cli(data, "core.selfinstruct", key, "generate", "--model", model, "--base-url", url, *flags)


def _induction(
    data: Path, key: str, url: str, model: str, out: Path, light: bool = False
) -> subprocess.CompletedProcess:
    size = ["--k", "1", "--limit", "1"] if light else ["--k", "2", "--limit", "2"]
    flags = ["--tasks", "starter_sum", *size, "--no-bertscore", "--out", str(out)]
    return _cli(data, "core.induction", key, "run", "--induce-model", model, "--base-url", url, *flags)


def _no_secret_anywhere(data: Path, *outputs: subprocess.CompletedProcess, extra: Path | None = None) -> None:
    for proc in outputs:
        assert not leaks(proc.stdout + proc.stderr, *SECRETS), proc.stdout + proc.stderr
    assert_no_secret_in(data, *SECRETS)
    if extra is not None:
        assert_no_secret_in(extra, *SECRETS)


@pytest.mark.parametrize("key", [KEY, PLAIN_KEY])
def test_both_command_lines_against_an_endpoint_that_echoes_the_key(data_dir, tmp_path, fault, key):
    servers = [fault(["401-echo"] * 50) for _ in range(2)]
    si = _selfinstruct(data_dir, key, servers[0].url_with_credentials(USER, PASSWORD), "m")
    ind = _induction(data_dir, key, servers[1].url_with_credentials(USER, PASSWORD), "m", tmp_path / "out")
    assert all(server.seen and set(server.seen) == {"401-echo"} for server in servers)
    for proc in (si, ind):
        assert proc.returncode == 1, proc.stderr
        assert "HTTP 401: Incorrect API key provided: [redacted]" in proc.stderr
        assert "Traceback" not in proc.stderr
    _no_secret_anywhere(data_dir, si, ind, extra=tmp_path)


def test_a_cut_stream_fails_a_selfinstruct_run_clearly_and_stores_no_answer(data_dir, sqlite_engine, fault):
    server = fault(["cut-stream"] * 2)
    proc = _selfinstruct(data_dir, KEY, server.url_with_credentials(USER, PASSWORD), "m")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "failed after 2 attempts: the stream ended before the answer was finished" in proc.stderr
    assert server.requests[0]["stream"] is True
    assert [c for c in call_log.list_calls(sqlite_engine) if c.error is None] == []
    _no_secret_anywhere(data_dir, proc)


def _real(server: LlamaServer) -> str:
    return server.base_url.replace("http://", f"http://{USER}:{PASSWORD}@")


def test_selfinstruct_and_its_exports_against_the_real_server(data_dir, tmp_path, llama_server):
    served = llama_server.requests_served("/v1/completions")
    si = _selfinstruct(data_dir, KEY, _real(llama_server), "gemma-3-270m")
    assert si.returncode == 0, si.stderr
    run_id = si.stdout.split("run ", 1)[1].split(":", 1)[0]
    exported = tmp_path / "export.jsonl"
    exports = [
        _cli(data_dir, "core.selfinstruct", KEY, "export", run_id, "--format", fmt, *out)
        for fmt in ("alpaca", "provenance")
        for out in ([], ["--out", str(exported)])
    ]
    assert all(e.returncode == 0 for e in exports), [e.stderr for e in exports]
    assert llama_server.requests_served("/v1/completions") > served  # this run reached the server
    _no_secret_anywhere(data_dir, si, *exports, extra=tmp_path)


def test_induction_against_the_real_server(data_dir, tmp_path, llama_server):
    ind = _induction(data_dir, KEY, _real(llama_server), "gemma-3-270m", tmp_path / "tables", light=True)
    assert ind.returncode == 0, ind.stderr
    assert list((tmp_path / "tables").glob("*.csv"))
    _no_secret_anywhere(data_dir, ind, extra=tmp_path)


def test_the_call_log_page_shows_errors_as_plain_text_without_secrets(data_dir, sqlite_engine, fault):
    server = fault(["401-echo", "error-event", "error-event"])
    url = server.url_with_credentials(USER, PASSWORD)
    client = LLMClient(make_provider(_settings(url, PLAIN_KEY)), sqlite_engine)
    for on_text in (None, lambda text: None):
        with pytest.raises(LLMError):
            client.generate(
                Request(prompt="**bold** ![x](http://evil/x.png)", params=GenParams(max_tokens=4)), on_text
            )
    client.generate(Request(prompt="fine", params=GenParams(max_tokens=4)))
    at = open_page("pages/calls.py")
    page = rendered(at)
    # The search sees the page's content: the redacted errors, the prompt and the endpoint are all there...
    assert "Incorrect API key provided: [redacted]" in page
    assert "the stream reported an error: overloaded; your key Basic [redacted]" in page
    assert "**bold** ![x](http://evil/x.png)" in page and server.base_url in page
    # ...as plain text (code blocks), not Markdown, and no secret is among it.
    assert not at.error and any("Incorrect API key provided" in c.value for c in at.code)
    assert not leaks(page, *SECRETS)
    assert_no_secret_in(data_dir, *SECRETS)


def test_the_settings_page_shows_the_base_url_without_its_password(data_dir, monkeypatch):
    url = f"http://{USER}:{PASSWORD}@127.0.0.1:9/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    monkeypatch.setenv("WORKBENCH_PROVIDER", "openai")
    monkeypatch.setenv("WORKBENCH_MODEL", "some-model")
    at = open_page("pages/settings.py")
    field = next(t for t in at.text_input if t.label == "Base URL")
    assert field.value == "http://127.0.0.1:9/v1"
    assert not leaks(rendered(at), PASSWORD)
    # Applied as shown, the session's model keeps the credentials it came with (requests still need them).
    next(b for b in at.button if b.label == "Apply for this session").click()
    at.run()
    assert at.session_state["model_settings"].base_url == url
    assert not leaks(rendered(at), PASSWORD)
