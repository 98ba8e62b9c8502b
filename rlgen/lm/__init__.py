"""Language models in rlgen: chat clients over CALM's judge backends for LM agents
(rlgen.lm.chat), offline loading of causal LMs as policy backbones (rlgen.lm.backbone) and the
object-list views that LM policies read (rlgen.lm.views)."""

from rlgen.lm.chat import ChatClient, action_schema, chat_client, parse_choice

__all__ = ["ChatClient", "action_schema", "chat_client", "parse_choice"]
