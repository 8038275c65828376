"""Raw sources to cleaned, formatted, tokenized training mixes (the base layer)."""
