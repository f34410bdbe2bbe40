"""The tests' helpers, one home for each (import ``from tests.support.<module> import ...``).

- :mod:`~tests.support.manifests`: the one evidence-manifest builder; package folders on disk.
- :mod:`~tests.support.devices`: enrolled devices that sign chained packages and post them.
- :mod:`~tests.support.users`: users with a signed-in session, straight into the database.
- :mod:`~tests.support.service_api`: the case service in-process (``Api``: client, identities).
- :mod:`~tests.support.postgres`: a fresh, migrated database on the real PostgreSQL.
- :mod:`~tests.support.console`: the console's seeded world, real JPEG/H.264 evidence, sign-in.
- :mod:`~tests.support.servers`: free ports, an app under uvicorn, ``nce serve`` as a subprocess.
- :mod:`~tests.support.cli`: the ``nce`` command in a subprocess.
- :mod:`~tests.support.rtsp` (and the script ``rtsp_server.py``): a real RTSP server on loopback.
- :mod:`~tests.support.delivery`: edge and service processes for the delivery tests.
- :mod:`~tests.support.evidence_sim`: a synthetic camera feeding the evidence packager.
- :mod:`~tests.support.onnx_models`, :mod:`~tests.support.videos`, :mod:`~tests.support.pipelines`:
  small ONNX graphs, scripted videos and site configs for the pipeline tests.
- :mod:`~tests.support.real_parts`: the pytest plugin that fails a real part's skip under CI.
"""
