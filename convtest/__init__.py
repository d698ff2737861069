"""convtest: regression tests for chatbot conversations."""
