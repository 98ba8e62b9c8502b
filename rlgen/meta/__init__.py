"""Meta-learning of PPO objectives: evolution strategies over a drift network's parameters."""
