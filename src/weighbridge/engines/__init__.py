"""Supervised local engines: llama.cpp's ``llama-server`` run as a child process per model, the
way Ollama runs its runners, so concurrent requests to one local model are decoded together
(continuous batching over parallel slots) instead of waiting in line.

``binary`` finds the server, ``options`` says how to run it on this machine, ``engine`` keeps
one process alive (start, health, restart, idle unload, no orphans), ``pool`` holds the engines
of one weighbridge process, and ``status`` is what ``weighbridge ps`` reads.
"""
