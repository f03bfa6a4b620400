"""Steps of the two-cluster test, run in subprocesses against its `LiveStack` database.

    python -m tests.scaleout.two_clusters_scenario setup N   -> {"token", "conversations": [N ids], "runs": [3 ids]}
        alice with one ready voice and N conversations with it; three retrainable voices whose approved runs
        are enqueued (on the stack's Redis broker) before any cluster runs.
    python -m tests.scaleout.two_clusters_scenario status    -> replies, clips, runs and task counts

The caller sets DJANGO_SETTINGS_MODULE, DATABASE_URL, MEDIA_ROOT, REDIS_URL and Q_CLUSTER_NAME (LiveStack.env).
"""

import json
import sys

RUNS = 3


def setup(conversations: str) -> dict:
    from rest_framework.authtoken.models import Token

    from retraining.services import retrain_run_approve, retrain_run_propose
    from tests.factories import ConversationFactory, UserFactory
    from tests.retraining.helpers import retrainable_voice, voice_at_provider

    alice = UserFactory(username="alice")
    staff = UserFactory(username="staff", is_staff=True, is_superuser=True)
    voice = voice_at_provider(alice, name="Ada", originals_s=(20.0,))
    chats = [str(ConversationFactory(voice=voice, user=alice).pk) for _ in range(int(conversations))]
    runs = []
    for n in range(RUNS):
        retrainable = retrainable_voice(UserFactory(username=f"owner{n}"), name=f"Voice {n}")
        runs.append(retrain_run_approve(run=retrain_run_propose(voice=retrainable), by=staff).pk)
    return {"token": Token.objects.create(user=alice).key, "conversations": chats, "runs": runs,
            "labels": [run.provider_voice_label for run in _runs(runs)]}


def _runs(ids):
    from retraining.models import RetrainRun

    return list(RetrainRun.objects.filter(pk__in=ids).select_related("new_version").order_by("pk"))


def status() -> dict:
    from django.db.models import Count
    from django_q.models import Task

    from conversations.models import Message
    from retraining.models import RetrainRun

    replies = Message.objects.filter(role=Message.Role.ASSISTANT, conversation__user__username="alice")
    ready = replies.filter(status=Message.Status.READY).select_related("clip")
    run_ids = list(RetrainRun.objects.values_list("pk", flat=True))
    return {
        "replies": dict(replies.values_list("status").annotate(n=Count("pk")).order_by()),
        "clips": [{"id": m.clip_id, "file": m.clip.file.name, "sha256": m.clip.sha256,
                   "reused": m.clip.reused_from_id is not None} for m in ready if m.clip_id],
        "runs": [{"id": r.pk, "state": r.state, "attempt_count": r.attempt_count,
                  "provider_voice_id": r.new_version.provider_voice_id if r.new_version else None,
                  "failure": r.failure_message} for r in _runs(run_ids)],
        # Every execution of a task (success or failure) leaves one row (save_limit keeps 1,000).
        "executions": dict(Task.objects.values_list("func").annotate(n=Count("pk")).order_by()),
    }


def main(argv: list[str]) -> None:
    import django

    django.setup()
    command, *args = argv
    print(json.dumps({"setup": setup, "status": status}[command](*args), default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
