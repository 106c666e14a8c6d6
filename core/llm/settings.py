"""Which model the app talks to: the embedded one by default, or an OpenAI-compatible endpoint."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from core.config import setting
from core.llm.client import Provider
from core.llm.redact import public_url, register_secret, register_url_credentials


@dataclass(frozen=True)
class ModelSettings:
    provider: str = "embedded"  # embedded | openai
    base_url: str = "https://api.openai.com/v1"
    model: str = ""
    # Never logged, stored or shown: repr=False keeps it out of reprs and error messages.
    api_key: str = field(default="", repr=False)
    styles: tuple[str, ...] = ("completion", "chat")
    max_concurrency: int = 8
    timeout_s: float = 60.0
    max_retries: int = 4

    def __post_init__(self) -> None:
        # Any key or URL password this process is configured with is masked in every error from now on.
        register_secret(self.api_key)
        register_url_credentials(self.base_url)

    @property
    def label(self) -> str:
        if self.provider == "embedded":
            return "Embedded Gemma 3 270M (offline, base model)"
        return f"{self.model} at {public_url(self.base_url)}"

    def with_(self, **changes) -> ModelSettings:
        return replace(self, **changes)

    def public_dict(self) -> dict:
        """Everything but the API key and any `user:password@` in the URL: what a run stores to know its
        model."""
        return {
            "provider": self.provider,
            "base_url": public_url(self.base_url) if self.provider == "openai" else "",
            "model": self.model,
            "styles": list(self.styles),
            "max_concurrency": self.max_concurrency,
            "timeout_s": self.timeout_s,
            "max_retries": self.max_retries,
        }


def settings_from_env() -> ModelSettings:
    """WORKBENCH_PROVIDER, OPENAI_BASE_URL, OPENAI_API_KEY, WORKBENCH_MODEL, WORKBENCH_API_STYLES, ..."""
    styles = tuple(
        s.strip() for s in (setting("WORKBENCH_API_STYLES") or "completion,chat").split(",") if s.strip()
    )
    base_url = setting("OPENAI_BASE_URL")
    provider = setting("WORKBENCH_PROVIDER") or (
        "openai" if base_url or setting("OPENAI_API_KEY") else "embedded"
    )
    return ModelSettings(
        provider=provider,
        base_url=base_url or "https://api.openai.com/v1",
        model=setting("WORKBENCH_MODEL") or "",
        api_key=setting("OPENAI_API_KEY") or "",
        styles=styles,
        max_concurrency=int(setting("WORKBENCH_MAX_CONCURRENCY") or 8),
        timeout_s=float(setting("WORKBENCH_TIMEOUT_S") or 60),
        max_retries=int(setting("WORKBENCH_MAX_RETRIES") or 4),
    )


def settings_from_name(
    name: str | None,
    base_url: str | None = None,
    styles: tuple[str, ...] | None = None,
    max_concurrency: int | None = None,
) -> ModelSettings:
    """A model named on a command line: "embedded" (or nothing), else a model at `base_url` or
    OPENAI_BASE_URL. The key comes from OPENAI_API_KEY only: a key given as a flag would land in shell
    history."""
    if name in (None, "", "embedded"):
        return ModelSettings()
    env = settings_from_env()
    return ModelSettings(
        provider="openai",
        base_url=base_url or env.base_url,
        model=name,
        api_key=env.api_key,
        styles=styles or env.styles,
        max_concurrency=max_concurrency or env.max_concurrency,
        timeout_s=env.timeout_s,
        max_retries=env.max_retries,
    )


def settings_from_public(model: dict | None) -> ModelSettings | None:
    """Rebuild settings from what a run stored (`public_dict`); the API key comes from the environment
    again, since it was never stored, and so do the URL's credentials when the environment names the same
    endpoint."""
    if not isinstance(model, dict):
        return None
    env = settings_from_env()
    s = ModelSettings(**{**model, "styles": tuple(model.get("styles", env.styles))})
    if s.provider != "openai":
        return s
    base_url = env.base_url if public_url(env.base_url) == s.base_url else s.base_url
    return s.with_(api_key=env.api_key, base_url=base_url)


_embedded: Provider | None = None


def make_provider(s: ModelSettings) -> Provider:
    global _embedded
    if s.provider == "embedded":
        from core.llm.embedded import EmbeddedProvider

        # One embedded model per process, whoever asks.
        if _embedded is None:
            _embedded = EmbeddedProvider()
        return _embedded
    if s.provider == "openai":
        if not s.model:
            raise ValueError("an OpenAI-compatible endpoint needs a model name (WORKBENCH_MODEL or Settings)")
        from core.llm.openai_compat import OpenAICompatProvider

        return OpenAICompatProvider(
            base_url=s.base_url,
            model=s.model,
            api_key=s.api_key or None,
            styles=s.styles,
            max_concurrency=s.max_concurrency,
            timeout_s=s.timeout_s,
            max_retries=s.max_retries,
        )
    raise ValueError(f"unknown provider {s.provider!r}: expected 'embedded' or 'openai'")
