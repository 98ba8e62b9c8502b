"""Observation encoder in the spirit of the MiniHack/NLE baseline (Küttler et al. 2020):
glyph embeddings, a CNN over the full map and one over the crop around the agent, an MLP over
the bottom-line stats, concatenated into one feature vector."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from rlgen.nets.impala import layer_init

GAIN = math.sqrt(2)  # orthogonal init gain for ELU-followed layers, as for ReLU


@dataclass(frozen=True)
class GlyphEncoderConfig:
    embed_dim: int = 16
    map_channels: int = 16
    crop_channels: int = 16
    map_features: int = 256
    crop_features: int = 128
    stats_features: int = 64
    out_dim: int = 256


def _conv_stack(in_ch: int, ch: int, strides: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for s in strides:
        layers += [nn.Conv2d(in_ch, ch, 3, stride=s, padding=1), nn.ELU()]
        in_ch = ch
    return nn.Sequential(*layers)


def _conv_out(h: int, w: int, strides: tuple[int, ...]) -> tuple[int, int]:
    for s in strides:
        h, w = (h - 1) // s + 1, (w - 1) // s + 1
    return h, w


class GlyphEncoder(nn.Module):
    """dict(glyphs (B,21,79), glyphs_crop (B,9,9), blstats (B,27)) -> (B, out_dim)."""

    MAP_SHAPE = (21, 79)
    CROP_SHAPE = (9, 9)
    MAP_STRIDES = (1, 2, 2)
    CROP_STRIDES = (1, 1)

    def __init__(self, config: GlyphEncoderConfig = GlyphEncoderConfig()):
        super().__init__()
        from nle import nethack

        c = config
        self.config, self.out_dim = c, c.out_dim
        # One table for map and crop, as in the baseline: a glyph means the same thing in both.
        self.embed = nn.Embedding(nethack.MAX_GLYPH + 1, c.embed_dim)
        self.map_cnn = _conv_stack(c.embed_dim, c.map_channels, self.MAP_STRIDES)
        mh, mw = _conv_out(*self.MAP_SHAPE, self.MAP_STRIDES)
        self.map_fc = nn.Sequential(layer_init(nn.Linear(c.map_channels * mh * mw, c.map_features), GAIN),
                                    nn.ELU())
        self.crop_cnn = _conv_stack(c.embed_dim, c.crop_channels, self.CROP_STRIDES)
        ch, cw = _conv_out(*self.CROP_SHAPE, self.CROP_STRIDES)
        self.crop_fc = nn.Sequential(layer_init(nn.Linear(c.crop_channels * ch * cw, c.crop_features), GAIN),
                                     nn.ELU())
        self.stats_fc = nn.Sequential(layer_init(nn.Linear(nethack.NLE_BLSTATS_SIZE, c.stats_features), GAIN),
                                      nn.ELU(),
                                      layer_init(nn.Linear(c.stats_features, c.stats_features), GAIN),
                                      nn.ELU())
        joint = c.map_features + c.crop_features + c.stats_features
        self.out = nn.Sequential(layer_init(nn.Linear(joint, c.out_dim), GAIN), nn.ELU())

    def _glyph_features(self, glyphs: torch.Tensor, cnn: nn.Module, fc: nn.Module) -> torch.Tensor:
        x = self.embed(glyphs.long()).permute(0, 3, 1, 2)  # (B, E, H, W)
        return fc(cnn(x).flatten(1))

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        stats = obs["blstats"].float()
        # Stats span 0..~1e5 (score, turn counter); a signed log keeps them in a usable range.
        stats = torch.sign(stats) * torch.log1p(stats.abs())
        h = torch.cat([self._glyph_features(obs["glyphs"], self.map_cnn, self.map_fc),
                       self._glyph_features(obs["glyphs_crop"], self.crop_cnn, self.crop_fc),
                       self.stats_fc(stats)], dim=1)
        return self.out(h)
