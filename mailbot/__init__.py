"""mailbot: robocall traceback notices and replies, over email."""
