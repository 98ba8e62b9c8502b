"""CALM: a language model judges whether an action achieved a subgoal (Pignatelli et al. 2024).

Pieces: `transition` (what is judged), `render` (the transition as text), `prompts` (CALM's
prompt blocks), `parse` (answer -> per-subgoal verdict), `labels` (ground truth from the env's
own events), `judges` (oracle, replay, OpenAI-compatible HTTP, in-process llama.cpp) behind one
interface, `cache` (the JSONL answer cache every live judge writes through), `serve` (a loopback
llama.cpp server). See docs/calm.md.
"""
