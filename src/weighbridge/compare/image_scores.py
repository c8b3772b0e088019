"""Scores of a picture: the user's function, a judge model that looks at it, and CLIP.

Each is a :class:`~weighbridge.compare.scorers.Score` on the cell, as a text check's is, so
the summaries, intervals, recommendation and exports of a chat run serve an image run as they
are. The checks are the text path's own, given the picture where they are given the text: a
``python`` check's function receives a ``PIL.Image.Image`` (loaded and run under the same rules,
:mod:`weighbridge.compare.userfunc`), and a ``judge`` check asks its rubric with the picture
attached as an OpenAI ``image_url`` part (:mod:`weighbridge.compare.judge`'s template, cache and
parsing), so any chat model that takes images can judge, a local one included. A cell of ``n``
pictures gets each check's mean over them.

CLIP (``--clip DIR``) measures how well a picture matches its prompt, as torchmetrics'
``CLIPScore`` does: 100 × max(cosine(image, text), 0). It is kept as a fraction of 100 with
weight 0: it is reported beside the checks, with its own mean and interval per model, but a
cell's score and pass are its checks' (a similarity has no pass mark).
"""

from __future__ import annotations

import asyncio
import base64
import io
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from weighbridge.compare import judge
from weighbridge.compare.cases import Case
from weighbridge.compare.scorers import Answer, Score, score_pure
from weighbridge.errors import InvalidRequestError
from weighbridge.providers.resident import LOADING
from weighbridge.store import runs
from weighbridge.store.pictures import MEDIA_TYPES
from weighbridge.types import GeneratedImage

if TYPE_CHECKING:
    from PIL import Image

#: The check types that can score a picture.
SCORED_TYPES = frozenset({"python", "judge", "latency", "cost"})
CLIP = "clip"
#: What the judge's template shows as the answer: the picture follows as a part of its own.
SHOWN = "(the picture attached below)"


def data_url(image: GeneratedImage) -> str:
    """The picture as a ``data:`` URL: how a judge is shown it and how a report embeds it."""
    return f"data:{MEDIA_TYPES[image.format]};base64,{base64.b64encode(image.data).decode()}"


class Scorer:
    """Scores the pictures of each cell by its case's checks, and by CLIP when given one."""

    def __init__(
        self, asker: judge.Asker, judge_model: str, clip: Clip | None, machine: asyncio.Lock
    ) -> None:
        self.asker = asker
        self.judge_model = judge_model
        self.clip = clip
        #: Held while CLIP runs: this machine's local models take turns.
        self.machine = machine

    async def score(self, cell: runs.CellRow, case: Case, images: list[GeneratedImage]) -> None:
        if not cell.ok or not images:
            return
        from PIL import Image

        pictures = [Image.open(io.BytesIO(image.data)) for image in images]
        share = len(images)
        for check in case.checks:
            each = []
            for image, picture in zip(images, pictures, strict=True):
                answer = Answer(
                    # a picture check's function gets the picture where a text check's gets the text
                    text=cast(Any, picture),
                    model=cell.model,
                    latency_s=cell.latency_s / share if cell.latency_s is not None else None,
                    cost_usd=cell.cost_usd / share if cell.cost_usd is not None else None,
                )
                if check.type == "judge":  # the judge reads the answer as text: the picture is shown apart
                    showing = _Showing(self.asker, image)
                    score, records = await judge.judge(
                        check, replace(answer, text=SHOWN), case, showing, self.judge_model
                    )
                    cell.judgements.extend(records)
                else:
                    score = score_pure(check, answer, case)
                each.append(score)
            cell.scores.append(_mean(each).model_dump())
        if self.clip is not None:
            clip = self.clip
            async with self.machine:
                each = [await asyncio.to_thread(clip.scored, p, case.prompt_text()) for p in pictures]
            cell.scores.append(_mean(each).model_dump())


def _mean(scores: list[Score]) -> Score:
    """One check's score over a cell's pictures: the mean of those it could make."""
    if len(scores) == 1:
        return scores[0]
    made = [s.score for s in scores if s.score is not None]
    reason = "; ".join(f"picture {i}: {s.reason}" for i, s in enumerate(scores, 1))
    first = scores[0]
    return Score(
        check=first.check,
        type=first.type,
        score=sum(made) / len(made) if made else None,
        passed=all(s.passed for s in scores),
        reason=reason,
        error=None if made else first.error,
        weight=first.weight,
    )


class _Showing(judge.Asker):
    """An asker that attaches the picture to the judge's question (and so to its cache key)."""

    def __init__(self, asker: judge.Asker, image: GeneratedImage) -> None:
        super().__init__(asker.client, asker.limits, use_cache=asker.use_cache)
        self.image = image

    async def ask(
        self, model: str, messages: list[dict[str, Any]], max_tokens: int | None = None
    ) -> tuple[runs.Judgement, bool]:
        *rest, question = messages
        shown = [
            {"type": "text", "text": question["content"]},
            {"type": "image_url", "image_url": {"url": data_url(self.image)}},
        ]
        return await super().ask(model, [*rest, {**question, "content": shown}], max_tokens)


class Clip:
    """A local CLIP model (transformers' ``CLIPModel`` and ``CLIPProcessor`` in one folder)."""

    def __init__(self, model: Any, processor: Any) -> None:
        self._model = model
        self._processor = processor

    @classmethod
    def load(cls, folder: Path) -> Clip:
        """The model in ``folder``, from local files only; a folder that holds none is the user's
        to fix, before any picture is made."""
        from transformers import CLIPModel, CLIPProcessor

        try:
            with LOADING:  # not while a pipeline loads (see providers.resident)
                model = CLIPModel.from_pretrained(folder, local_files_only=True)  # in eval mode
                processor = CLIPProcessor.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise InvalidRequestError(
                f"--clip {folder}: no CLIP model there ({str(exc).splitlines()[0]}); give a folder "
                "with a CLIPModel's config and weights and its processor's files"
            ) from None
        return cls(model, processor)

    def score(self, picture: Image.Image, text: str) -> float:
        """100 × max(cosine(picture, text), 0), torchmetrics' definition."""
        import torch

        with torch.no_grad():
            inputs = self._processor(
                text=[text],
                images=[picture.convert("RGB")],
                return_tensors="pt",
                padding=True,
                truncation=True,
            )
            out = self._model(**inputs)
        image = out.image_embeds / out.image_embeds.norm(dim=-1, keepdim=True)
        words = out.text_embeds / out.text_embeds.norm(dim=-1, keepdim=True)
        return 100 * max(float((image * words).sum()), 0.0)

    def scored(self, picture: Image.Image, text: str) -> Score:
        try:
            value = self.score(picture, text)
        except Exception as exc:  # a failed measurement is reported, never a crash of the run
            error = f"CLIP failed: {type(exc).__name__}: {exc}"
            return Score(check=CLIP, type=CLIP, score=None, passed=False, reason=error, error=error, weight=0)
        return Score(
            check=CLIP, type=CLIP, score=value / 100, passed=True, reason=f"CLIP score {value:.2f}", weight=0
        )
