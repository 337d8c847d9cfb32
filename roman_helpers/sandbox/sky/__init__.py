"""The sandbox's synthetic universe and how it was observed.

Pure, deterministic functions of their arguments: the filters (:mod:`.bands`), the transients'
light curves (:mod:`.transients`), the stars, galaxies and transients themselves
(:mod:`.sources`), and images of them (:mod:`.render`). The archive layouts read from here;
nothing here reads from the archive or the services.
"""
