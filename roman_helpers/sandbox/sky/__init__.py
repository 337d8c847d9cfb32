"""The sandbox's synthetic universe and how it was observed.

Pure, deterministic functions of their arguments: the filters (:mod:`.bands`), the transients'
light curves (:mod:`.transients`), the stars, galaxies and transients themselves
(:mod:`.sources`), images of them (:mod:`.render`), the Roman Wide Field Instrument's focal
plane (:mod:`.wfi`) and where and when each mirrored survey pointed (:mod:`.surveys`). The
archive layouts read from here; nothing here reads from the archive or the services.
"""
