"""One supernova of the sandbox's Time Domain Survey and the images holding it, from the sandbox's own tables.

The kit's survey tests (index, find, cut-outs, light curves) need a place on the sky and the
files over it. Indexing the whole TDS preview (19,193 images of 4088 x 4088) is out of the
question, so they index a few tens of files chosen here, and check the kit against what is
computed here: never with the kit, only with the sandbox's sky (its sources), its survey tables
(the observation sequence, which images the preview release holds) and its focal-plane model
(each detector's WCS, the one the images' headers carry).

The supernova is the brightest type Ia (at its peak, in H158) of the sky within the preview
region: a rule, not a position, so it follows the sky if the sky changes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from roman_helpers.sandbox.archive.layouts.openuniverse._images import image_key, obseq_key
from roman_helpers.sandbox.sky import sources, wfi
from roman_helpers.sandbox.sky.surveys import tds

BUCKET = "nasa-irsa-simulations"
RELEASE = "preview"
#: The band of the light curve, and the other band the index holds (what a band selection leaves out).
BAND, OTHER_BAND = "H158", "J129"
#: Images of BAND holding the supernova that the index holds: those nearest its peak in time.
EPOCHS = 12
SN_IA = 10  # SNANA's gentype of a type Ia supernova
OBSEQ_URI = f"s3://{BUCKET}/{obseq_key(RELEASE)}"


@dataclass(frozen=True)
class Transient:
    """The supernova: catalog id, position (degrees) and time of its peak (MJD)."""

    object_id: int
    ra: float
    dec: float
    peak_mjd: float


@dataclass(frozen=True)
class Image:
    """One preview image: where it is, when it was taken, and where the supernova falls on it."""

    uri: str
    band: str
    pointing: int
    sca: int
    start: float  # MJD of the exposure's start (the header's MJD-OBS)
    exptime: float  # seconds
    x: float  # the supernova's 0-based pixel by the detector's WCS
    y: float

    @property
    def end(self) -> float:
        return self.start + self.exptime / 86400

    @property
    def holds(self) -> bool:
        return bool(-0.5 <= self.x < 4087.5 and -0.5 <= self.y < 4087.5)


def uri(band: str, pointing: int, sca: int) -> str:
    """The image's ``s3://`` URI in the preview release, as the layout names it."""
    return f"s3://{BUCKET}/{image_key('RomanTDS', RELEASE, band, pointing, sca)}"


@functools.cache
def transient() -> Transient:
    """The brightest type Ia supernova of the sky (H158, at peak) in the preview region."""
    region = tds.region(RELEASE)
    found = sources.cone(region.ra, region.dec, region.radius).transients
    light = found.light
    peak = np.where(light.gentype == SN_IA, light.mag(BAND, light.peak_mjd), np.inf)
    best = int(np.argmin(peak))
    return Transient(
        int(found.object_id[best]), float(found.ra[best]), float(found.dec[best]), float(light.peak_mjd[best])
    )


def electrons(image: Image) -> float:
    """The supernova's electrons in ``image`` by the sky's model: rate at mid-exposure x exposure time."""
    sn = transient()
    found = sources.cone(sn.ra, sn.dec, 1 / 3600).transients
    light = found.light.take(np.flatnonzero(found.object_id == sn.object_id))
    return float(light.rate(image.band, (image.start + image.end) / 2)[0]) * image.exptime


def _image(row, ra: float, dec: float) -> Image:
    pointing, sca, band = int(row["pointing"]), int(row["sca"]), str(row["filter"])
    sequence = tds.pointings()[pointing]
    wcs = wfi.wcs(float(sequence["ra"]), float(sequence["dec"]), float(sequence["pa"]), sca, "openuniverse")
    x, y = wcs.world_to_pixel_values(ra, dec)
    start, exptime = float(row["date"]), float(row["exptime"])
    return Image(uri(band, pointing, sca), band, pointing, sca, start, exptime, float(x), float(y))


@functools.cache
def holding(band: str) -> tuple[Image, ...]:
    """Every preview image of ``band`` that holds the supernova, in time order."""
    sn = transient()
    table = tds.images(RELEASE)
    near = (table["filter"] == band) & (
        np.hypot(
            (np.asarray(table["ra"]) - sn.ra) * np.cos(np.radians(sn.dec)), np.asarray(table["dec"]) - sn.dec
        )
        < 0.15
    )  # detector centres within 0.15 deg (a detector's diagonal is 0.18 deg): the candidates
    images = [_image(row, sn.ra, sn.dec) for row in table[near]]
    return tuple(sorted((i for i in images if i.holds), key=lambda i: i.start))


@functools.cache
def indexed() -> tuple[Image, ...]:
    """The images the tests index, in time order: see :func:`index_sources`."""
    sn = transient()
    chosen = sorted(holding(BAND), key=lambda i: abs(i.start - sn.peak_mjd))[:EPOCHS]
    first, last = min(i.start for i in chosen), max(i.start for i in chosen)
    others = [i for i in holding(OTHER_BAND) if first <= i.start <= last]
    nearest = min(chosen, key=lambda i: abs(i.start - sn.peak_mjd))
    table = tds.images(RELEASE)
    folder = [_image(row, sn.ra, sn.dec) for row in table[table["pointing"] == nearest.pointing]]
    unique = {i.uri: i for i in [*chosen, *others, *folder]}
    return tuple(sorted(unique.values(), key=lambda i: (i.start, i.sca)))


def index_sources() -> list[str]:
    """What the tests index: a bounded, meaningful part of the preview.

    The :data:`EPOCHS` images of :data:`BAND` holding the supernova nearest its peak, the
    :data:`OTHER_BAND` images holding it in the same days, every detector of the pointing
    nearest its peak (one holds it, the others do not), and the observation sequence (a FITS
    table beside the images, which an index skips).
    """
    return [*(i.uri for i in indexed()), OBSEQ_URI]
