"""A worker process that dies by SIGKILL at a chosen point of a chat turn (tests/reliability/test_kill_worker.py).

    python -m tests.reliability.worker_standin after-tts MESSAGE_ID

runs the turn as a django-q2 worker would (`conversations.tasks.message_reply_generate`) and kills itself
with SIGKILL once the reply's audio is stored and just before the message would be marked ready. The
caller sets the stack's environment (LiveStack.env).
"""

import os
import signal
import sys


def main(argv):
    import django

    django.setup()
    from conversations import services, tasks

    point, message_id = argv

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    assert point == "after-tts"
    services._mark_ready = die  # the clip and its file are stored by now
    tasks.message_reply_generate(message_id)


if __name__ == "__main__":
    main(sys.argv[1:])
