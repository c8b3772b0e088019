"""The HTTP gateway: OpenAI- and Anthropic-compatible routes over the same client.

``protocol`` holds the wire shapes (no web framework), ``openai_wire`` and ``anthropic_wire``
translate between them and the core types as pure functions, ``errors`` maps every
:class:`~weighbridge.errors.WeighbridgeError` to a status and a body in the caller's protocol,
and ``app`` is the thin Starlette application that ties them to the client.
"""
