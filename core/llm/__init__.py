"""Model access: one interface over the embedded model and any OpenAI-compatible endpoint."""

from core.llm.client import LLMClient, Provider
from core.llm.settings import ModelSettings, make_provider, settings_from_env
from core.llm.types import Choice, GenParams, LLMError, Request, Response

__all__ = [
    "Choice",
    "GenParams",
    "LLMClient",
    "LLMError",
    "ModelSettings",
    "Provider",
    "Request",
    "Response",
    "make_provider",
    "settings_from_env",
]
