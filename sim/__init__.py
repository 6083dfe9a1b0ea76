"""Golden model and simulation harnesses."""
