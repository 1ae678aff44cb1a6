"""The meta-prompts sent to the LLM, as plain text files with $placeholders (string.Template)."""
