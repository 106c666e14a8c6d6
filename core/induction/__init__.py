"""Instruction Induction (Honovich et al., 2022): prompts, post-processing, scoring, search, BERTScore, cost.

The pure parts live here and need neither a model-call layer nor storage:
`prompts` (induction/execution templates), `postprocess` (cleaning and grouping instructions),
`scoring` (execution accuracy, human baseline, % of human), `search` (successive halving / UCB),
`bertscore` (instruction vs gold instructions) and `cost` (calls and tokens before a run).
Metrics of one prediction are in `core.metrics`.
"""
