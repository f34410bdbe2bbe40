"""``nce demo``: the whole chain on one machine, camera to reviewable case (:mod:`demo.run`).

The demo drives both sides (the toolchain's scenario clip, the edge pipeline, the case service)
through the real ``nce`` commands, so it lives apart from all of them: nothing imports ``demo``.
"""
