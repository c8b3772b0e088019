"""Standard benchmarks on any model that shows its log-probabilities, scored as
lm-evaluation-harness scores them: its prompts, few-shot examples and metrics, from datasets on
local disk (nothing is downloaded), checked item by item against lm-eval itself."""
