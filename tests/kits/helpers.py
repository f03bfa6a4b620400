"""Helpers for voice kit tests: a voice with a history, kits read back, kits tampered with."""

import hashlib
import io
import json
import zipfile

from django.core.files.uploadedfile import SimpleUploadedFile


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def send_text(api, conversation_id, text, run_tasks):
    with run_tasks():
        response = api.post(f"/api/v1/conversations/{conversation_id}/messages/", {"text": text}, format="json")
    assert response.status_code == 202, response.content
    return response.json()


def export_kit(api, voice_id) -> bytes:
    response = api.get(f"/api/v1/voices/{voice_id}/export/")
    assert response.status_code == 200, getattr(response, "content", b"")[:500]
    assert response["Content-Type"] == "application/zip"
    data = body(response)
    assert int(response["Content-Length"]) == len(data)
    return data


def read_kit(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def write_kit(files: dict[str, bytes], *, rehash: bool = True, compression=zipfile.ZIP_STORED) -> bytes:
    """A kit zip from `files`; with `rehash`, SHA256SUMS (and the manifest's files block) are made to agree."""
    files = dict(files)
    if rehash:
        manifest = json.loads(files["manifest.json"])
        for name in ("metadata.csv", "README.txt"):
            if name in files and name in manifest.get("files", {}):
                manifest["files"][name] = {"sha256": hashlib.sha256(files[name]).hexdigest(),
                                           "size_bytes": len(files[name])}
        files["manifest.json"] = json.dumps(manifest).encode()
        sums = {n: hashlib.sha256(d).hexdigest() for n, d in files.items() if n != "SHA256SUMS"}
        files["SHA256SUMS"] = "".join(f"{h}  {n}\n" for n, h in sorted(sums.items())).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def kit_upload(data: bytes, name="voice-kit.zip"):
    return SimpleUploadedFile(name, data, content_type="application/zip")


def import_kit(api, data: bytes, run_tasks, **fields):
    with run_tasks():
        return api.post("/api/v1/voices/import/", {"kit": kit_upload(data), "consent": "true", **fields},
                        format="multipart")
