"""Causal language models as policy backbones: offline loading (rlgen.lm.backbone) and the
object-list views of env observations that language-model policies read (rlgen.lm.views)."""
