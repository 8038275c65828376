"""On-device export of a merged model: GGUF (llama.cpp), MLC-LLM config, sizes and precision.

Imports neither train/ nor eval/: it works on a model directory.
"""
