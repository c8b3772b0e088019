"""Owning open models: the local model registry, pins, quantization and drift canaries.

Each job is its own module, imported by the command that needs it; nothing here loads
llama.cpp or torch on import.
"""
