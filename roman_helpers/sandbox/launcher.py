"""Start the whole sandbox (data, S3, MAST, IRSA, TLS proxy) and describe it as environment variables.

The environment in :attr:`Sandbox.env` is all a process needs to use the sandbox with no code
changed: botocore (boto3, s3fs, astroquery's cloud client) follows ``AWS_ENDPOINT_URL``,
requests follows ``HTTPS_PROXY``/``HTTP_PROXY`` and trusts ``REQUESTS_CA_BUNDLE``, and astropy
reads a configuration directory that turns off IERS downloads. Credentials are throw-away
keys written to a file the environment points at; the keys themselves are never placed in the
environment or printed.

Examples
--------
>>> import os, subprocess, sys
>>> script = "import boto3; print(boto3.client('s3').list_objects_v2(Bucket='stpubdata')['KeyCount'] > 0)"
>>> with Sandbox() as sandbox:
...     done = subprocess.run(
...         [sys.executable, "-c", script],
...         env=sandbox.apply(dict(os.environ)),
...         capture_output=True,
...         text=True,
...     )
>>> done.stdout.strip()
'True'
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import tempfile
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roman_helpers.sandbox.services.s3 import S3Server, SandboxStartError

if TYPE_CHECKING:  # imported late at run time: they need the sandbox's heavier dependencies
    from roman_helpers.sandbox.data import Manifest
    from roman_helpers.sandbox.services._service import BackgroundService
    from roman_helpers.sandbox.services.irsa import IrsaServer
    from roman_helpers.sandbox.services.mast import MastServer
    from roman_helpers.sandbox.services.proxy import TlsProxy

__all__ = ["OVERRIDDEN_VARIABLES", "Sandbox", "SandboxStartError"]

#: Variables removed from a child's environment because they would override the sandbox's.
OVERRIDDEN_VARIABLES = (
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL_S3",
    "AWS_SECURITY_TOKEN",
    "ALL_PROXY",
    "all_proxy",
)

_ASTROPY_CFG = """\
# written by roman-helpers sandbox: no network for astropy's data files
[utils.iers.iers]
auto_download = False
"""


def _old_astropy_config_home(astropy_dir: Path) -> dict[str, str]:
    """Where astropy older than 8.0 looks for its configuration, when that is the one installed.

    ``ASTROPY_CONFIG_DIR`` is read from astropy 8.0 on; older releases read
    ``$XDG_CONFIG_HOME/astropy`` only. Setting ``XDG_CONFIG_HOME`` moves other programs'
    configuration too, so it is done only where it is needed.
    """
    from importlib.metadata import version

    if int(version("astropy").split(".")[0]) >= 8:
        return {}
    home = astropy_dir.parent / "xdg-config"
    (home / "astropy").mkdir(parents=True, exist_ok=True)
    (home / "astropy" / "astropy.cfg").write_text((astropy_dir / "astropy.cfg").read_text())
    return {"XDG_CONFIG_HOME": str(home)}


class Sandbox:
    """The offline MAST + IRSA + S3 stand-in, as a context manager.

    Parameters
    ----------
    cache_dir : path, optional
        Where generated data is cached (default: ``ROMAN_HELPERS_SANDBOX_CACHE`` or
        ``~/.cache/roman-helpers/sandbox``).
    size : {"small", "full"}
        Image sizes of the generated data.
    latency : float
        Seconds added to every S3 request.
    bandwidth : float, optional
        S3 body throughput cap in bytes per second.
    faults : str or list, optional
        Fault rules for S3, MAST and IRSA (see :mod:`roman_helpers.sandbox.services.faults`).

    Attributes
    ----------
    env : dict of str to str
        Environment a child process needs (no secrets in it).
    env_file : pathlib.Path
        The same as ``export`` lines, for ``source``.
    s3 : S3Server
    mast : MastServer
    irsa : IrsaServer
    proxy : TlsProxy
    manifest : Manifest
    ca : trustme.CA
        The certificate authority the proxy's certificates are signed with (made at start).
    timings : dict of str to float
        Seconds spent building data and starting services.
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike | None = None,
        size: str = "small",
        *,
        latency: float = 0.0,
        bandwidth: float | None = None,
        faults: Any = None,
        env_file: str | os.PathLike | None = None,
    ) -> None:
        if size not in ("small", "full"):
            from roman_helpers.errors import InvalidParameterError

            raise InvalidParameterError("size", size, ["small", "full"])
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        self.size = size
        if isinstance(faults, str) and faults:
            from roman_helpers.sandbox.services.faults import parse_faults

            parse_faults(faults)  # a typo in --faults is a usage error, before anything starts
        self.latency, self.bandwidth, self.faults = latency, bandwidth, faults
        self._requested_env_file = Path(env_file) if env_file else None
        self.env: dict[str, str] = {}
        self.env_file: Path | None = None
        self.manifest: Manifest | None = None
        self.s3: S3Server | None = None
        self.mast: MastServer | None = None
        self.irsa: IrsaServer | None = None
        self.proxy: TlsProxy | None = None
        self.ca: Any = None
        self.state_dir: Path | None = None
        self.timings: dict[str, float] = {}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Sandbox:
        """Build (or reuse) the data, start S3, MAST, IRSA and the proxy; fill :attr:`env`."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        started = time.perf_counter()
        self._check_cache_dir()

        import trustme

        from roman_helpers.sandbox import data
        from roman_helpers.sandbox.services.irsa import IrsaServer
        from roman_helpers.sandbox.services.mast import MastServer
        from roman_helpers.sandbox.services.proxy import IRSA_HOSTS, MAST_HOSTS, TlsProxy

        self.manifest = data.build(self.cache_dir, self.size)
        self.timings["data"] = time.perf_counter() - started

        self.state_dir = Path(tempfile.mkdtemp(prefix="roman-helpers-sandbox-"))
        self.s3 = S3Server(
            self.manifest, latency=self.latency, bandwidth=self.bandwidth, faults=self.faults
        ).start()
        self.mast = MastServer(self.manifest, faults=self.faults).start()
        self.irsa = IrsaServer(self.manifest, faults=self.faults).start()
        ca = self.ca = trustme.CA(organization_name="roman-helpers sandbox (local only)")
        routes = {
            **dict.fromkeys(MAST_HOSTS, ("127.0.0.1", self.mast.port)),
            **dict.fromkeys(IRSA_HOSTS, ("127.0.0.1", self.irsa.port)),
        }
        self.proxy = TlsProxy(routes, ca).start()
        self.timings["services"] = time.perf_counter() - started - self.timings["data"]

        ca_file = self.state_dir / "sandbox-ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        credentials = self.state_dir / "aws-credentials"
        # throw-away keys: the sandbox checks no signature; they only make botocore sign requests
        credentials.write_text(
            "[default]\naws_access_key_id = sandbox\naws_secret_access_key = sandbox-secret\n"
        )
        credentials.chmod(0o600)
        config = self.state_dir / "aws-config"
        config.write_text("[default]\nregion = us-east-1\n")
        astropy_dir = self.state_dir / "astropy-config"
        astropy_dir.mkdir()
        (astropy_dir / "astropy.cfg").write_text(_ASTROPY_CFG)
        state_file = self.state_dir / "sandbox.json"

        proxy = self.proxy.url
        self.env = {
            "AWS_ENDPOINT_URL": self.s3.url,
            "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
            "AWS_CONFIG_FILE": str(config),
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "HTTPS_PROXY": proxy,
            "HTTP_PROXY": proxy,
            "https_proxy": proxy,
            "http_proxy": proxy,
            "NO_PROXY": "127.0.0.1,localhost,::1",
            "no_proxy": "127.0.0.1,localhost,::1",
            "REQUESTS_CA_BUNDLE": str(ca_file),
            "SSL_CERT_FILE": str(ca_file),
            "CURL_CA_BUNDLE": str(ca_file),
            "ASTROPY_CONFIG_DIR": str(astropy_dir),
            **_old_astropy_config_home(astropy_dir),
            "ROMAN_HELPERS_SANDBOX": str(state_file),
        }
        state = {
            "s3": self.s3.url,
            "mast": self.mast.url,
            "irsa": self.irsa.url,
            "proxy": proxy,
            "ca_file": str(ca_file),
            "stats": self.s3.url + "/_sandbox/stats",
            "manifest": str(self.manifest.root),
            "size": self.size,
            "pid": os.getpid(),
        }
        state_file.write_text(json.dumps(state, indent=2))
        self.env_file = self.write_env_file(self._requested_env_file or self.state_dir / "sandbox.env")

    def _check_cache_dir(self) -> None:
        from roman_helpers.sandbox.data import default_cache_dir

        cache = self.cache_dir or default_cache_dir()
        try:
            cache.mkdir(parents=True, exist_ok=True)
            probe = cache / f".write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise SandboxStartError(
                f"the sandbox cache directory {cache} is not usable ({error.strerror or error}); "
                "pass a writable cache_dir / --cache-dir or set ROMAN_HELPERS_SANDBOX_CACHE"
            ) from None
        self.cache_dir = cache

    def stop(self) -> None:
        """Stop every service and remove the state directory (idempotent, safe after a failed start)."""
        services: list[BackgroundService | S3Server | None] = [self.proxy, self.irsa, self.mast, self.s3]
        for service in services:
            if service is not None:
                with contextlib.suppress(Exception):  # keep stopping the others
                    service.stop()
        self.proxy = self.irsa = self.mast = self.s3 = None
        if self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self.state_dir = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # ------------------------------------------------------------------ environment
    def apply(self, environ: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
        """Put the sandbox environment into ``environ`` (default ``os.environ``) and return it.

        Variables that would override the sandbox (``AWS_PROFILE``, ``AWS_ACCESS_KEY_ID`` ...)
        are removed.
        """
        environ = os.environ if environ is None else environ
        for name in OVERRIDDEN_VARIABLES:
            environ.pop(name, None)
        environ.update(self.env)
        return environ

    def export_lines(self) -> list[str]:
        """Return ``export NAME=value`` lines for a POSIX shell (no secrets in them)."""
        lines = [f"unset {' '.join(OVERRIDDEN_VARIABLES)}"]
        lines += [f"export {name}={shlex.quote(value)}" for name, value in self.env.items()]
        return lines

    def write_env_file(self, path: str | os.PathLike) -> Path:
        """Write :meth:`export_lines` to ``path`` and return it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(self.export_lines()) + "\n")
        return path
