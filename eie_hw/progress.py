"""Progress lines on stderr, the same for every `eie` subcommand."""

import sys
import time


def say(message: str) -> None:
    print(f"[eie {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
