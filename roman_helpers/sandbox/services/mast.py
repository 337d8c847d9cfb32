"""The sandbox's MAST: the part of the MAST API that ``astroquery.mast`` 0.4.11 calls.

Routes (same paths as on ``https://mast.stsci.edu``; the TLS proxy in
:mod:`roman_helpers.sandbox.services.proxy` sends ``mast.stsci.edu`` and ``mastresolver.stsci.edu``
traffic here):

``POST /portal/Mashup/Mashup.asmx/columnsconfig``
    form ``colConfigId``; the column configuration astroquery validates criteria against (and
    ``get_metadata`` lists). An unknown configuration answers ``{}``, as MAST does.
``POST /api/v0/invoke``
    form ``request`` (JSON with ``service``, ``params``, ``format``, ``pagesize``, ``page``). Services:
    ``Mast.Caom.Cone`` (``ra``, ``dec``, ``radius`` in degrees), ``Mast.Caom.Filtered`` and
    ``Mast.Caom.Filtered.Position`` (``columns``: ``*``, a list, or ``COUNT_BIG(*)``; ``filters``;
    ``position`` ``"ra, dec, radius"``), ``Mast.Caom.Products`` (``obsid`` list), ``Mast.Name.Lookup``,
    ``Mast.Caom.All`` (the mission histogram ``list_missions`` reads). Paged like MAST
    (``paging.pagesFiltered``). A position matches an observation when the observation's centre
    (``s_ra``, ``s_dec``) is inside the cone, measured on the sphere; ``distance`` is that
    separation in arcseconds. Unknown services and unknown filter columns answer ``status: ERROR``
    (astroquery raises ``RemoteServiceError``); no match answers an empty ``data`` list (astroquery
    warns ``NoResultsWarning``).
``GET /api/v0.1/path_lookup/``
    ``uri=`` repeated; maps each MAST data URI to its path in the ``stpubdata`` bucket (previews
    get a path too, but no object is there, as on AWS).
``GET|HEAD /api/v0.1/Download/file``
    ``uri=``; the bytes of any product the catalog lists (from the archive: the bucket's object,
    or the preview MAST alone serves), ``Content-Length`` first.
``GET /Santa-war/query``
    the name resolver astroquery 0.4.11 calls for object names (host ``mastresolver.stsci.edu``).
``/search/...``, ``GET /whoami``
    MAST's Missions search (``MastMissions``) for Roman, and the session information a login
    reads: :mod:`roman_helpers.sandbox.services.missions`.

Anything else (MAST catalogs, bundles, other MAST APIs) fails the way astroquery reports MAST's
own failures, with a message that says this is the offline sandbox, what its MAST holds, and
names the book's sandbox page; an answer with no rows says the same in its ``msg``.
The rows come from :mod:`roman_helpers.sandbox.services.catalog`, the bytes from the archive's
HST layout (:mod:`roman_helpers.sandbox.archive.layouts.hst`).
"""

from __future__ import annotations

import fnmatch
import functools
import json
import math
import mimetypes
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from roman_helpers.sandbox.archive.layouts import hst
from roman_helpers.sandbox.archive.registry import SEE_BOOK, Archive
from roman_helpers.sandbox.services.serving import Environ, StartResponse, WsgiService

__all__ = ["SERVED_SERVICES", "MastApp", "MastServer", "columns_config"]

_STREAM_CHUNK = 1 << 20
#: The Mashup services the sandbox answers.
SERVED_SERVICES = (
    "Mast.Caom.Cone",
    "Mast.Caom.Filtered",
    "Mast.Caom.Filtered.Position",
    "Mast.Caom.Products",
    "Mast.Name.Lookup",
    "Mast.Caom.All",
)

_VOT_TYPES = {
    "string": "char",
    "char": "char",
    "float": "double",
    "double": "double",
    "int": "int",
    "long": "long",
    "short": "short",
    "boolean": "boolean",
    "datetime": "char",
    "date": "char",
}
_NUMERIC = {"double", "float", "numeric"}
_COUNT = "COUNT_BIG(*)"


def columns_config(fields: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Build a Mashup ``columnsconfig`` answer from MAST ``fields``.

    Parameters
    ----------
    fields : list of dict
        ``name`` and ``type`` (as in a service's ``fields``), optionally ``config_type`` (the
        VOTable type the configuration gives), ``label``, ``unit``, ``description``, ``example``
        and ``separator``.

    Returns
    -------
    dict
        Column name to its properties (``text``, ``vot.datatype`` ...), in field order.

    Examples
    --------
    >>> columns_config([{"name": "t_min", "type": "float"}])["t_min"]["vot.datatype"]
    'double'
    """
    config: dict[str, dict[str, Any]] = {}
    for order, column in enumerate(fields):
        name = column["name"]
        vot = _config_type(column)
        if name == "_selected_":  # the portal's selection column, as MAST describes it
            config[name] = {"text": "selected", "add": True, "type": "boolean", "hidden": True}
            continue
        entry: dict[str, Any] = {
            "text": column.get("label") or name,
            "order": order,
            "vot.datatype": vot,
            "vot.ID": name,
            "vot.name": name,
            "vot.description": column.get("description", ""),
        }
        if vot in ("char", "string"):
            entry["vot.arraysize"] = "*"
        for key, source in (("vot.unit", "unit"), ("example", "example"), ("separator", "separator")):
            if column.get(source):
                entry[key] = column[source]
        if column.get("remove"):
            entry["remove"] = True
        config[name] = entry
    return config


def _config_type(column: dict[str, Any]) -> str:
    """The VOTable type the columns configuration gives: ``config_type`` as is, else from ``type``."""
    return column.get("config_type") or _VOT_TYPES.get(str(column["type"]).lower(), "char")


def _matches(row: dict[str, Any], flt: dict[str, Any], numeric: bool) -> bool:
    value = row.get(flt["paramName"])
    if numeric:
        bounds = flt["values"][0]
        return value is not None and float(bounds["min"]) <= float(value) <= float(bounds["max"])
    text = "" if value is None else str(value).lower()
    wanted = [str(v).lower() for v in flt.get("values", [])]
    separator = flt.get("separator")
    candidates = {t.strip() for t in text.split(separator)} | {text} if separator else {text}
    if wanted and candidates & set(wanted):
        return True
    pattern = flt.get("freeText")
    return bool(pattern and fnmatch.fnmatch(text, pattern.lower().replace("%", "*")))


def _fields(fields: list[dict[str, Any]]) -> list[dict[str, str]]:
    """What MAST sends as ``fields``: name and type only."""
    return [{"name": f["name"], "type": f["type"]} for f in fields]


def _holds(catalog: Any) -> str:
    return str(getattr(catalog, "DESCRIPTION", "a synthetic catalog"))


def _unserved(what: str, catalog: Any) -> str:
    return (
        f"{what} is not served by the roman-helpers offline sandbox, whose MAST answers "
        f"astroquery.mast's Observations for {_holds(catalog)}. {SEE_BOOK}"
    )


def _nothing_matched(catalog: Any) -> str:
    return (
        f"Nothing in the roman-helpers offline sandbox matches; its MAST holds {_holds(catalog)}. {SEE_BOOK}"
    )


class MastApp:
    """WSGI application answering astroquery.mast from the sandbox's catalog and archive.

    Parameters
    ----------
    archive : Archive, optional
        The sandbox's archive: ``Download/file`` serves its HST products (and the previews MAST
        alone holds). Without one no download is served.
    catalog : module, optional
        Provider of ``observations()``, ``products()``, ``OBSERVATION_FIELDS``, ``PRODUCT_FIELDS``,
        ``cloud_key()``, ``resolve()`` (and optionally ``CONE_FIELDS``, ``POSITION_FIELDS``,
        ``DESCRIPTION``); default :mod:`roman_helpers.sandbox.services.catalog`.
    presign : callable, optional
        ``presign(bucket, key, expires=seconds)`` of the sandbox's S3, for the Missions
        downloads' redirects (:class:`~roman_helpers.sandbox.services.missions.MissionsApp`).
    """

    def __init__(self, archive: Archive | None = None, catalog: Any = None, presign: Any = None) -> None:
        from roman_helpers.sandbox.services.missions import MissionsApp

        if catalog is None:
            from roman_helpers.sandbox.services import catalog
        self.catalog = catalog
        self.archive = archive
        self.missions = MissionsApp(archive, presign)
        self.observation_fields = catalog.OBSERVATION_FIELDS
        self.cone_fields = getattr(catalog, "CONE_FIELDS", self.observation_fields)
        self.position_fields = getattr(catalog, "POSITION_FIELDS", self.observation_fields)
        self.observations = list(catalog.observations())
        self._positions: Any = None
        self.requests = 0
        self._lock = threading.Lock()
        self.url_map = Map(
            [
                Rule("/portal/Mashup/Mashup.asmx/columnsconfig", endpoint="columnsconfig"),
                Rule("/api/v0/invoke", endpoint="invoke"),
                Rule("/api/v0.1/path_lookup/", endpoint="path_lookup"),
                Rule("/api/v0.1/path_lookup", endpoint="path_lookup"),
                Rule("/api/v0.1/Download/file", endpoint="download"),
                Rule("/api/v0.1/Download/file/", endpoint="download"),
                Rule("/Santa-war/query", endpoint="resolver"),
                Rule("/search/<path:rest>", endpoint="missions"),
                Rule("/whoami", endpoint="missions"),
                Rule("/", endpoint="unserved"),
                Rule("/<path:rest>", endpoint="unserved"),
            ]
        )

    @functools.cached_property
    def products(self) -> list[dict[str, Any]]:
        """The product rows (made on first use: their sizes come from the archive's layout)."""
        return list(self.catalog.products())

    @functools.cached_property
    def product_uris(self) -> set[str]:
        """Every product's ``dataURI``."""
        return {str(p["dataURI"]) for p in self.products}

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """Answer one WSGI request: route it to its ``on_<endpoint>`` method."""
        with self._lock:
            self.requests += 1
        request = Request(environ)
        try:
            endpoint, _ = self.url_map.bind_to_environ(environ).match()
            response = getattr(self, f"on_{endpoint}")(request)
        except HTTPException as error:
            response = error.get_response(environ)
        return response(environ, start_response)

    # --------------------------------------------------------------- endpoints
    def on_columnsconfig(self, request: Request) -> Response:
        """The column configuration astroquery asks for before a search (``colConfigId``)."""
        name = request.values.get("colConfigId", "")
        if name.startswith("Mast.Caom.Products"):
            return _json(columns_config(self.catalog.PRODUCT_FIELDS))
        if name.startswith("Mast.Caom"):
            selected = [f for f in self.cone_fields if f["name"] == "_selected_"]
            extra = [
                {**f, "remove": True}
                for f in self.position_fields
                if f["name"] not in {c["name"] for c in self.cone_fields}
            ]
            others = [f for f in self.cone_fields if f["name"] != "_selected_"]
            return _json(columns_config([*selected, *others, *extra]))
        return _json({})  # what MAST answers for a configuration it does not have

    def on_invoke(self, request: Request) -> Response:
        """One Mashup request (cone search, filtered search, products, name look-up ...), paged."""
        try:
            mashup = json.loads(request.values.get("request", ""))
        except ValueError:
            return _json(_error("request is not valid JSON"))
        service = str(mashup.get("service", ""))
        params = mashup.get("params") or {}
        if service == "Mast.Caom.Cone":
            answer = self._cone(params)
        elif service in ("Mast.Caom.Filtered", "Mast.Caom.Filtered.Position"):
            answer = self._filtered(params, positional=service.endswith("Position"))
        elif service == "Mast.Caom.Products":
            wanted = {s.strip() for s in str(params.get("obsid", "")).split(",") if s.strip()}
            rows = [
                p
                for p in self.products
                if str(p.get("parent_obsid")) in wanted or str(p.get("obsID")) in wanted
            ]
            answer = rows, self.catalog.PRODUCT_FIELDS
        elif service == "Mast.Name.Lookup":
            entry = self.catalog.resolve(str(params.get("input", "")))
            found = [self._resolved(str(params.get("input", "")), entry, "SIMBAD")] if entry else []
            return _json({"resolvedCoordinate": found, "status": ""})
        elif service == "Mast.Caom.All":
            return _json(self._mission_histogram())
        elif service.startswith("Mast.Catalogs.All."):
            # astroquery reads this helper's answer without checking its status (catalog criteria):
            # an HTTP error is the one failure it reports clearly (requests.HTTPError)
            reason = _unserved(service, self.catalog)
            return Response(reason, status=f"501 {reason}", mimetype="text/plain")
        else:
            return _json(_error(f"Unknown service: {service!r}. {_unserved('It', self.catalog)}"))
        if isinstance(answer, str):
            return _json(_error(answer))
        rows, fields = answer
        page = _page(rows, _fields(fields), mashup.get("pagesize"), mashup.get("page"))
        if not rows:
            page["msg"] = _nothing_matched(self.catalog)
        return _json(page)

    def on_path_lookup(self, request: Request) -> Response:
        """Where each product ``uri`` sits in the open-data bucket, or a 404 entry."""
        answer = {}
        for uri in request.args.getlist("uri"):
            if uri in self.product_uris:
                answer[uri] = {"status_code": 200, "path": "/" + self.catalog.cloud_key(uri)}
            else:
                answer[uri] = {"status_code": 404, "path": None}
        return _json(answer)

    def on_download(self, request: Request) -> Response:
        """The bytes of product ``uri``, as an attachment (headers only for HEAD), or 404."""
        uri = request.args.get("uri", "")
        item = None
        if uri in self.product_uris and self.archive is not None:
            item = hst.download_object(self.archive, self.catalog.cloud_key(uri))
        if item is None:
            raise NotFound(
                f"{uri!r} is not a product of the roman-helpers offline sandbox's MAST, "
                f"which holds {_holds(self.catalog)}. {SEE_BOOK}"
            )
        filename = uri.rsplit("/", 1)[-1]
        size = item.size
        body: Iterable[bytes] = [] if request.method == "HEAD" else _stream(item.read, size)
        mimetype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        response = Response(body, mimetype=mimetype, direct_passthrough=True)
        response.headers["Content-Length"] = str(size)
        response.headers["Content-Disposition"] = f"attachment; filename={filename}"
        return response

    def on_resolver(self, request: Request) -> Response:
        """Name resolution (SIMBAD, or SIMBAD and NED with ``resolveAll``) for each ``name``."""
        resolve_all = request.args.get("resolveAll", "false").lower() == "true"
        resolvers = ["SIMBAD", "NED"] if resolve_all else [request.args.get("resolver", "SIMBAD").upper()]
        found = []
        for name in request.args.getlist("name"):
            entry = self.catalog.resolve(name)
            if entry:
                found += [self._resolved(name, entry, resolver) for resolver in resolvers]
        return _json({"resolvedCoordinate": found, "status": ""})

    def on_missions(self, request: Request) -> Response:
        """MAST's Missions search (Roman) and ``/whoami``: :mod:`roman_helpers.sandbox.services.missions`."""
        return self.missions.answer(request)

    def on_unserved(self, request: Request) -> Response:
        """404 for any other path, with a message that says the sandbox does not serve it."""
        reason = _unserved(request.path, self.catalog)
        return Response(reason + "\n", status=f"404 {reason}", mimetype="text/plain")

    # --------------------------------------------------------------- services
    @staticmethod
    def _resolved(name: str, entry: dict[str, Any], resolver: str) -> dict[str, Any]:
        """One resolver's answer, with the fields of MAST's name resolver (recorded: ``resolver.json``)."""
        return {
            "searchString": name.lower(),
            "resolver": resolver,
            "cached": True,
            "resolverTime": 1,
            "searchRadius": -1.0,
            **entry,
        }

    def _separations(self, ra: float, dec: float) -> list[float]:
        """Degrees from (ra, dec) to every observation's centre, on the sphere (astropy)."""
        import astropy.units as u
        from astropy.coordinates import SkyCoord

        if self._positions is None:
            self._positions = SkyCoord(
                [float(r["s_ra"]) for r in self.observations],
                [float(r["s_dec"]) for r in self.observations],
                unit="deg",
            )
        return SkyCoord(ra, dec, unit="deg").separation(self._positions).to_value(u.deg).tolist()

    def _within(
        self, rows: list[dict[str, Any]], ra: float, dec: float, radius: float
    ) -> list[dict[str, Any]]:
        index = {id(row): number for number, row in enumerate(self.observations)}
        separations = self._separations(ra, dec)
        found = []
        for row in rows:
            degrees = separations[index[id(row)]]
            if degrees <= radius:
                found.append({**row, "distance": degrees * 3600.0})
        return found

    def _cone(self, params: dict[str, Any]) -> tuple | str:
        try:
            ra, dec, radius = (float(params[k]) for k in ("ra", "dec", "radius"))
        except (KeyError, TypeError, ValueError):
            return "Mast.Caom.Cone needs ra, dec and radius in degrees"
        return self._within(self.observations, ra, dec, radius), self.cone_fields

    def _filtered(self, params: dict[str, Any], positional: bool) -> tuple | str:
        fields = self.position_fields if positional else self.observation_fields
        types = {f["name"].lower(): _config_type(f) for f in self.observation_fields}
        names = {f["name"].lower(): f["name"] for f in self.observation_fields}
        rows = self.observations
        for flt in params.get("filters") or []:
            key = str(flt.get("paramName", "")).lower()
            if key not in names:
                return f"Filter '{flt.get('paramName')}' does not exist."
            flt = {**flt, "paramName": names[key]}
            rows = [r for r in rows if _matches(r, flt, types[key] in _NUMERIC)]
        if positional:
            try:
                ra, dec, radius = (float(v) for v in str(params.get("position", "")).split(","))
            except ValueError:
                return f"position must be 'ra, dec, radius' in degrees, not {params.get('position')!r}"
            rows = [{**row, "objID1": row.get("objID")} for row in self._within(rows, ra, dec, radius)]
        return _columns(rows, fields, params.get("columns", "*"))

    def _mission_histogram(self) -> dict[str, Any]:
        """The ``Mast.Caom.All`` facet ``list_missions`` reads: observations per collection."""
        counts: dict[str, int] = {}
        for row in self.observations:
            counts[row["obs_collection"]] = counts.get(row["obs_collection"], 0) + 1
        histogram = [{"key": name, "value": count} for name, count in sorted(counts.items())]
        column = {"text": "obs_collection", "ExtendedProperties": {"histObj": {**counts, "hist": histogram}}}
        return {"status": "COMPLETE", "msg": "", "data": {"Tables": [{"Columns": [column]}]}}


def _columns(rows: list[dict[str, Any]], fields: list[dict[str, Any]], columns: Any) -> tuple | str:
    """Apply a Mashup ``columns`` parameter: ``*``, ``COUNT_BIG(*)`` or a comma-separated list."""
    text = str(columns or "*").strip()
    if text == "*":
        return rows, fields
    if text.replace(" ", "").upper() == _COUNT:
        from roman_helpers.sandbox.services.catalog import COUNT_FIELDS

        return [{"Column1": len(rows)}], COUNT_FIELDS
    by_name = {f["name"].lower(): f for f in fields}
    chosen = []
    for name in (part.strip() for part in text.split(",")):
        if name.lower() not in by_name:
            return f"Column '{name}' does not exist."
        chosen.append(by_name[name.lower()])
    return [{f["name"]: row.get(f["name"]) for f in chosen} for row in rows], chosen


def _stream(read: Any, size: int) -> Iterator[bytes]:
    """The bytes of an object, a mebibyte at a time (made as they are sent)."""
    for start in range(0, size, _STREAM_CHUNK):
        yield read(start, min(size, start + _STREAM_CHUNK))


def _error(message: str) -> dict[str, Any]:
    return {"status": "ERROR", "msg": message, "data": [], "fields": []}


def _page(
    rows: list[dict[str, Any]], fields: list[dict[str, str]], pagesize: Any, page: Any
) -> dict[str, Any]:
    size = int(pagesize or 50000)
    number = int(page or 1)
    chunk = rows[(number - 1) * size : number * size]
    names = [f["name"] for f in fields]
    chunk = [
        {name: row.get(name) for name in names} for row in chunk
    ]  # MAST's columns, in order (None if unset)
    return {
        "status": "COMPLETE",
        "msg": "",
        "fields": fields,
        "data": chunk,
        "paging": {
            "page": number,
            "pageSize": size,
            "pagesFiltered": max(1, math.ceil(len(rows) / size)),
            "rows": len(chunk),
            "rowsFiltered": len(rows),
            "rowsTotal": len(rows),
        },
    }


def _json(payload: Any) -> Response:
    return Response(json.dumps(payload), mimetype="application/json")


class MastServer(WsgiService):
    """Serve :class:`MastApp` with werkzeug on 127.0.0.1 in a background thread.

    Parameters
    ----------
    archive : Archive, optional
        Passed to :class:`MastApp`.
    host, port : str, int
        Address to bind; port 0 picks a free one.
    faults : str or list, optional
        Fault rules for :mod:`roman_helpers.sandbox.services.faults`, wrapped outermost.
    catalog, presign : optional
        Passed to :class:`MastApp`.
    """

    name = "MAST"

    def __init__(
        self,
        archive: Archive | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        faults: Any = None,
        catalog: Any = None,
        presign: Any = None,
    ) -> None:
        from roman_helpers.sandbox.services.s3 import wrap_faults

        self.app = MastApp(archive, catalog, presign)
        self._wsgi = wrap_faults(self.app, faults)
        self.host, self.port = host, port
