"""Language-model clients for rlgen's LM agents, built on CALM's judge backends.

The backends live in rlgen.calm.judges (registered in rlgen.registry.JUDGES): in-process
llama.cpp, any OpenAI-compatible endpoint, and replay from an answer cache. They already do
what an agent needs too (write-through caching keyed by model, prompt and decoding; concurrent
calls; retries; offline replay), so `rlgen.lm.chat` adapts them to chat conversations with a
constrained answer instead of writing a second client layer.
"""

from rlgen.lm.chat import ChatClient, action_schema, chat_client, parse_choice

__all__ = ["ChatClient", "action_schema", "chat_client", "parse_choice"]
