"""The sandbox's MAST: the part of the MAST API that ``astroquery.mast`` 0.4.11 calls.

Routes (same paths as on ``https://mast.stsci.edu``; the TLS proxy in
:mod:`roman_helpers.sandbox.proxy` sends ``mast.stsci.edu`` and ``mastresolver.stsci.edu``
traffic here):

``POST /portal/Mashup/Mashup.asmx/columnsconfig``
    form ``colConfigId``; the column configuration astroquery validates criteria against.
``POST /api/v0/invoke``
    form ``request`` (JSON with ``service``, ``params``, ``pagesize``, ``page``). Services:
    ``Mast.Caom.Filtered``, ``Mast.Caom.Filtered.Position``, ``Mast.Name.Lookup``,
    ``Mast.Caom.Products``. Paged like MAST (``paging.pagesFiltered``); unknown services and
    unknown filter columns answer ``status: ERROR`` (astroquery raises ``RemoteServiceError``);
    no match answers an empty ``data`` list (astroquery warns ``NoResultsWarning``).
``GET /api/v0.1/path_lookup/``
    ``uri=`` repeated; maps each MAST data URI to its path in the ``stpubdata`` bucket.
``GET|HEAD /api/v0.1/Download/file``
    ``uri=``; the bytes of a product held in the sandbox's ``stpubdata`` bucket.
``GET /Santa-war/query``
    the name resolver astroquery 0.4.11 calls for ``objectname=`` (host ``mastresolver.stsci.edu``).

The rows come from :mod:`roman_helpers.sandbox.catalog` (synthetic, deterministic).
"""

from __future__ import annotations

import fnmatch
import json
import math
import threading
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from roman_helpers.sandbox._service import BackgroundService

__all__ = ["MastApp", "MastServer", "columns_config"]

_VOT_TYPES = {"string": "char", "char": "char", "float": "double", "double": "double",
              "int": "int", "long": "long", "short": "short", "boolean": "boolean",
              "datetime": "char", "date": "char"}
_NUMERIC = {"double", "float", "numeric"}


def columns_config(fields: list[dict[str, str]]) -> dict[str, dict[str, Any]]:
    """Build a Mashup ``columnsconfig`` answer from MAST ``fields`` ({"name", "type"}).

    Examples
    --------
    >>> columns_config([{"name": "t_min", "type": "float"}])["t_min"]["vot.datatype"]
    'double'
    """
    config: dict[str, dict[str, Any]] = {}
    for order, column in enumerate(fields):
        vot = _VOT_TYPES.get(column["type"].lower(), "char")
        entry: dict[str, Any] = {"text": column["name"], "order": order, "vot.datatype": vot,
                                 "vot.name": column["name"], "vot.description": column.get("description", "")}
        if vot == "char":
            entry["vot.arraysize"] = "*"
        config[column["name"]] = entry
    return config


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
    return bool(pattern) and fnmatch.fnmatch(text, pattern.lower().replace("%", "*"))


def _separation_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    ra1, dec1, ra2, dec2 = map(math.radians, (ra1, dec1, ra2, dec2))
    cos_angle = (math.sin(dec1) * math.sin(dec2)
                 + math.cos(dec1) * math.cos(dec2) * math.cos(ra1 - ra2))
    return math.degrees(math.acos(max(-1.0, min(1.0, cos_angle))))


class MastApp:
    """WSGI application answering astroquery.mast from the synthetic catalog.

    Parameters
    ----------
    manifest : Manifest, optional
        Sandbox objects; ``Download/file`` serves the ``stpubdata`` ones from it.
    catalog : module, optional
        Provider of ``observations()``, ``products()``, ``OBSERVATION_FIELDS``,
        ``PRODUCT_FIELDS``, ``cloud_key()``, ``resolve()``; default
        :mod:`roman_helpers.sandbox.catalog`.
    """

    def __init__(self, manifest: Any = None, catalog: Any = None) -> None:
        if catalog is None:
            from roman_helpers.sandbox import catalog
        self.catalog = catalog
        self.files = {}
        if manifest is not None:
            self.files = {(e.bucket, e.key): manifest.file(e) for e in manifest.objects}
        self.observations = list(catalog.observations())
        self.products = list(catalog.products())
        for row in self.products:  # the catalog's sizes are hints; the generated files are the truth
            path = self.files.get(("stpubdata", catalog.cloud_key(row["dataURI"])))
            if path is not None:
                row["size"] = path.stat().st_size
        self.product_uris = {p["dataURI"] for p in self.products}
        self.requests = 0
        self._lock = threading.Lock()
        self.url_map = Map([
            Rule("/portal/Mashup/Mashup.asmx/columnsconfig", endpoint="columnsconfig"),
            Rule("/api/v0/invoke", endpoint="invoke"),
            Rule("/api/v0.1/path_lookup/", endpoint="path_lookup"),
            Rule("/api/v0.1/path_lookup", endpoint="path_lookup"),
            Rule("/api/v0.1/Download/file", endpoint="download"),
            Rule("/api/v0.1/Download/file/", endpoint="download"),
            Rule("/Santa-war/query", endpoint="resolver"),
        ])

    def __call__(self, environ, start_response):
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
        name = request.values.get("colConfigId", "")
        if name.startswith("Mast.Caom.Products"):
            return _json(columns_config(self.catalog.PRODUCT_FIELDS))
        if name.startswith("Mast.Caom"):
            return _json(columns_config(self.catalog.OBSERVATION_FIELDS))
        return _json({})  # what MAST answers for a configuration it does not have

    def on_invoke(self, request: Request) -> Response:
        try:
            mashup = json.loads(request.values.get("request", ""))
        except ValueError:
            return _json(_error("request is not valid JSON"))
        service = mashup.get("service", "")
        params = mashup.get("params") or {}
        if service in ("Mast.Caom.Filtered", "Mast.Caom.Filtered.Position"):
            rows = self._filtered(params, positional=service.endswith("Position"))
            fields = self.catalog.OBSERVATION_FIELDS
        elif service == "Mast.Caom.Products":
            wanted = {s.strip() for s in str(params.get("obsid", "")).split(",") if s.strip()}
            rows = [p for p in self.products
                    if str(p.get("parent_obsid")) in wanted or str(p.get("obsID")) in wanted]
            fields = self.catalog.PRODUCT_FIELDS
        elif service == "Mast.Name.Lookup":
            entry = self.catalog.resolve(str(params.get("input", "")))
            return _json({"resolvedCoordinate": [entry] if entry else [], "status": ""})
        else:
            return _json(_error(f"Unknown service: {service!r}"))
        if isinstance(rows, str):
            return _json(_error(rows))
        return _json(_page(rows, fields, mashup.get("pagesize"), mashup.get("page")))

    def on_path_lookup(self, request: Request) -> Response:
        answer = {}
        for uri in request.args.getlist("uri"):
            if uri in self.product_uris:
                answer[uri] = {"status_code": 200, "path": "/" + self.catalog.cloud_key(uri)}
            else:
                answer[uri] = {"status_code": 404, "path": None}
        return _json(answer)

    def on_download(self, request: Request) -> Response:
        uri = request.args.get("uri", "")
        if uri not in self.product_uris:
            raise NotFound(f"{uri!r} is not a MAST product known to the sandbox")
        path = self.files.get(("stpubdata", self.catalog.cloud_key(uri)))
        if path is None:
            raise NotFound(f"the sandbox holds no bytes for {uri!r} (it is not in its stpubdata bucket)")
        filename = uri.rsplit("/", 1)[-1]
        body = b"" if request.method == "HEAD" else open(path, "rb")  # closed by the WSGI server
        response = Response(body, mimetype="application/octet-stream", direct_passthrough=True)
        response.headers["Content-Length"] = str(path.stat().st_size)
        response.headers["Content-Disposition"] = f"attachment; filename={filename}"
        return response

    def on_resolver(self, request: Request) -> Response:
        found = []
        for name in request.args.getlist("name"):
            entry = self.catalog.resolve(name)
            if entry:
                found.append({"resolver": "SIMBAD", "cached": True, "searchRadius": -1.0,
                              "canonicalName": entry.get("canonicalName", name), **entry,
                              "searchString": name.lower()})
        return _json({"resolvedCoordinate": found})

    # --------------------------------------------------------------- helpers
    def _filtered(self, params: dict[str, Any], positional: bool) -> list[dict[str, Any]] | str:
        types = {f["name"].lower(): _VOT_TYPES.get(f["type"].lower(), "char")
                 for f in self.catalog.OBSERVATION_FIELDS}
        names = {f["name"].lower(): f["name"] for f in self.catalog.OBSERVATION_FIELDS}
        rows = self.observations
        for flt in params.get("filters", []):
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
            rows = [r for r in rows if r.get("s_ra") is not None and
                    _separation_deg(ra, dec, float(r["s_ra"]), float(r["s_dec"])) <= radius]
        return rows


def _error(message: str) -> dict[str, Any]:
    return {"status": "ERROR", "msg": message, "data": [], "fields": []}


def _page(rows: list[dict[str, Any]], fields: list[dict[str, str]], pagesize: Any, page: Any) -> dict[str, Any]:
    size = int(pagesize or 50000)
    number = int(page or 1)
    chunk = rows[(number - 1) * size: number * size]
    return {"status": "COMPLETE", "msg": "", "fields": fields, "data": chunk,
            "paging": {"page": number, "pageSize": size, "pagesFiltered": max(1, math.ceil(len(rows) / size)),
                       "rows": len(chunk), "rowsFiltered": len(rows), "rowsTotal": len(rows)}}


def _json(payload: Any) -> Response:
    return Response(json.dumps(payload), mimetype="application/json")


class MastServer(BackgroundService):
    """Serve :class:`MastApp` with werkzeug on 127.0.0.1 in a background thread.

    Parameters
    ----------
    manifest : Manifest, optional
        Passed to :class:`MastApp`.
    host, port : str, int
        Address to bind; port 0 picks a free one.
    faults : str or list, optional
        Fault rules for :mod:`roman_helpers.sandbox.faults`, wrapped outermost.
    """

    def __init__(self, manifest: Any = None, host: str = "127.0.0.1", port: int = 0, *,
                 faults: Any = None, catalog: Any = None) -> None:
        from roman_helpers.sandbox.s3 import wrap_faults

        self.app = MastApp(manifest, catalog)
        self._wsgi = wrap_faults(self.app, faults)
        self.host, self.port = host, port
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> MastServer:
        """Bind and serve in a daemon thread."""
        from werkzeug.serving import make_server

        from roman_helpers.sandbox.s3 import SandboxStartError, quiet_request_handler

        try:
            self._server = make_server(self.host, self.port, self._wsgi, threaded=True,
                                       request_handler=quiet_request_handler())
        except OSError as error:
            raise SandboxStartError(f"the sandbox MAST service cannot listen on {self.host}:{self.port}: {error}")
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox-mast", daemon=True)
        self._thread.start()
        return self

