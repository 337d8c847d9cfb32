"""Where and when each survey the sandbox mirrors pointed.

One module per survey, each a deterministic table of observations (astropy Tables, one row
per pointing or exposure, in the survey's own naming) and the images that exist of it:

* :mod:`.tds` - the OpenUniverse 2024 Roman Time Domain Survey (``RomanTDS``);
* :mod:`.was` - the OpenUniverse 2024 Wide Area Survey images and coadd block grid (``RomanWAS``);
* :mod:`.rubin` - the OpenUniverse 2024 Rubin preview coadd patch (tract 2877, patch 19);
* :mod:`.roman` - the Roman tutorial data (release 2026.2) and the Roman Research Nexus's pointings;
* :mod:`.ccs` - the Science Operations Center's Core Community Survey simulations (r00340, r00342);
* :mod:`.common` - what they share: regions on the sky, the yearly roll, reproducible dithers.

Each module's docstring says which published design every number follows and which numbers are
the sandbox's own choices. The tables are cached after their first build (a second or so for all
surveys together): treat them as read-only.
"""
