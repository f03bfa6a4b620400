"""Local emulator of the slice of the ElevenLabs HTTP API that voiceclone uses.

Speaks the paths, JSON shapes and error bodies of the ElevenLabs API slice listed in docs/emulator.md, so
the official `elevenlabs` SDK works against it unchanged (`ElevenLabs(api_key=..., base_url=srv.url)`).
Tests, benchmarks and `manage.py emulator` use it; application code never imports it. It depends on
the standard library, numpy, soundfile, python-multipart and praat-parselmouth (through
`fidelity.features` and `fidelity.fingerprint`, which are Django-free); no Django.

    from voiceclone.emulator import EmulatorServer
    from voiceclone.emulator.control import EmulatorControl

    srv = EmulatorServer(port=0).start()      # free port, daemon thread
    ctl = EmulatorControl(srv.url)
    ctl.add_fault(path=r"^/v1/text-to-speech/", method="POST", status=503, count=2)
    ...
    srv.stop()
"""

from .server import FAULTS_ENV, EmulatorServer

__all__ = ["EmulatorServer", "FAULTS_ENV"]
