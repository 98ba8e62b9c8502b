"""WebShop (Yao et al. 2022) in pure Python: the real catalogue, the original's goals, prices,
reward and BM25 search, as a Gymnasium env with string observations and actions.

Modules: `catalogue` (loading the original files), `goals`, `reward`, `search`, `env` (pages and
transitions), `family` (the `webshop` spec and its splits), `expert` (scripted policies),
`collect` (demonstration datasets), `scorer` (the choice model agents learn through).
"""
