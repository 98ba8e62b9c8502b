"""`rlgen sweep`: declarative grids of ordinary runs (sweeps/<name>.toml), run resumably."""
