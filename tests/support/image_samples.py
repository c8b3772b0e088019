"""The image wires' documented bodies, as a replayed upstream sends them, and real PNGs to carry.

OpenAI: the Images API reference's ``/images/generations`` answers (gpt-image-1's ``b64_json``
with ``usage``; dall-e-3's with ``revised_prompt``) and its error object, with the codes OpenAI
answers for a refused prompt (``content_policy_violation`` from dall-e, ``moderation_blocked``
from gpt-image). Gemini: a generateContent answer with an ``inlineData`` part, as the image
generation guide shows it, with the reference's usage fields; Imagen's ``:predict`` answer.
Black Forest Labs: the task, poll and error bodies of the FLUX API reference (``{"id",
"polling_url"}``, the ``get_result`` answer in each status, FastAPI's ``{"detail": ...}``).
Where the wording of a message is not published, the words here are ours; the shapes are not.
"""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any


def png(rgb: tuple[int, int, int] = (200, 30, 30), size: int = 4) -> bytes:
    """A real ``size`` x ``size`` PNG of one colour, made by hand (signature, IHDR, IDAT, IEND)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))  # filter 0, then RGB pixels
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit truecolour
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


RED, GREEN, BLUE = png((200, 30, 30)), png((30, 200, 30)), png((30, 30, 200))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- OpenAI ---------------------------------------------------------------------------------

OPENAI_KEY = "sk-proj-images-replay-0123456789abcdef"


def gpt_image_answer(*images: bytes, size: str = "1536x1024") -> dict[str, Any]:
    """gpt-image-1: always b64_json, with token usage and what it made."""
    return {
        "created": 1713833628,
        "background": "opaque",
        "data": [{"b64_json": b64(image)} for image in images],
        "output_format": "png",
        "quality": "high",
        "size": size,
        "usage": {
            "total_tokens": 4210,
            "input_tokens": 50,
            "output_tokens": 4160,
            "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
        },
    }


REVISED = (
    "A photorealistic image of a white Siamese cat with striking blue eyes, sitting on a "
    "windowsill bathed in soft morning light."
)
DALL_E_3_ANSWER = {"created": 1589478378, "data": [{"b64_json": b64(GREEN), "revised_prompt": REVISED}]}

CONTENT_POLICY = {
    "error": {
        "code": "content_policy_violation",
        "message": "Your request was rejected as a result of our safety system. Your prompt may contain "
        "text that is not allowed by our safety system.",
        "param": None,
        "type": "invalid_request_error",
    }
}
MODERATION_BLOCKED = {
    "error": {
        "message": "Your request was rejected by the safety system. If you believe this is an error, "
        "contact us at help.openai.com and include the request ID req_0123456789abcdef. "
        "safety_violations=[violence].",
        "type": "image_generation_user_error",
        "param": None,
        "code": "moderation_blocked",
    }
}
IMAGES_RATE_LIMITED = {
    "error": {
        "message": "Rate limit reached for gpt-image-1 in organization org-x on images per minute "
        "(IPM): Limit 5, Used 5, Requested 1. Please try again in 12s.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}
SERVER_ERROR = {
    "error": {
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error",
        "param": None,
        "code": None,
    }
}


# -- Gemini and Imagen ------------------------------------------------------------------------

GEMINI_KEY = "AIzaSyImagesReplayKey-0123456789abcdefghi"


def gemini_image_answer(image: bytes) -> dict[str, Any]:
    """generateContent with image output: a text part, then the picture inline."""
    return {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "Here is a picture of a nano banana dish in a fancy restaurant."},
                        {"inlineData": {"mimeType": "image/png", "data": b64(image)}},
                    ],
                    "role": "model",
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 11,
            "candidatesTokenCount": 1290,
            "totalTokenCount": 1301,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 11}],
            "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1290}],
        },
        "modelVersion": "gemini-2.5-flash-image",
        "responseId": "cHhtaPSfBeTFz7IPv5TK2Ag",
    }


GEMINI_PROMPT_BLOCKED = {
    "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
    "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
    "modelVersion": "gemini-2.5-flash-image",
}
GEMINI_IMAGE_SAFETY = {
    "candidates": [{"content": {"role": "model"}, "finishReason": "IMAGE_SAFETY", "index": 0}],
    "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
    "modelVersion": "gemini-2.5-flash-image",
}
GEMINI_TEXT_ONLY = {
    "candidates": [
        {
            "content": {"parts": [{"text": "I can describe it, but here is no picture."}], "role": "model"},
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "modelVersion": "gemini-2.5-flash-image",
}


def imagen_answer(*images: bytes) -> dict[str, Any]:
    return {"predictions": [{"mimeType": "image/png", "bytesBase64Encoded": b64(image)} for image in images]}


IMAGEN_ALL_FILTERED = {
    "predictions": [
        {
            "raiFilteredReason": "Your current safety filter threshold filtered out the generated image. "
            "You will not be charged for blocked images. Try rephrasing the prompt."
        }
    ]
}


def gemini_error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


# -- Black Forest Labs ------------------------------------------------------------------------

BFL_KEY = "bfl-replay-key-0123456789abcdef"
TASK_ID = "f6a1c2d4-5b0e-4c4e-9a61-3f2b8d7e9c10"


def bfl_task(base: str, task_id: str = TASK_ID) -> dict[str, str]:
    """What ``POST /v1/{model}`` answers: the task, and where to poll it."""
    return {"id": task_id, "polling_url": f"{base}/v1/get_result?id={task_id}"}


def bfl_poll(status: str, task_id: str = TASK_ID, **fields: Any) -> dict[str, Any]:
    """A ``get_result`` answer; ``result`` and ``details`` as given."""
    return {"id": task_id, "status": status, "result": None, "progress": None, "details": None, **fields}


def bfl_ready(sample: str, prompt: str, seed: int, task_id: str = TASK_ID) -> dict[str, Any]:
    return bfl_poll(
        "Ready",
        task_id,
        result={
            "sample": sample,
            "prompt": prompt,
            "seed": seed,
            "start_time": 1735603200.52,
            "end_time": 1735603205.97,
            "duration": 5.45,
        },
        preview=None,
    )


BFL_MODERATED = bfl_poll("Content Moderated", details={"Moderation Reasons": ["Derivative Works Filter"]})
BFL_VALIDATION = {  # FastAPI's 422: flux-dev takes guidance from 1.5 to 5
    "detail": [
        {
            "type": "less_than_equal",
            "loc": ["body", "guidance"],
            "msg": "Input should be less than or equal to 5",
            "input": 20.0,
            "ctx": {"le": 5.0},
        }
    ]
}
BFL_TOO_MANY_TASKS = {"detail": "You have reached the limit of 24 active tasks. Wait for one to finish."}
BFL_NO_CREDITS = {"detail": "Insufficient credits. Add credits at https://api.bfl.ai to continue."}
