# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is a certificate fit to go on the edges? The verdict, from what community.crypto read of it.

The tls role reads each certificate, key and chain on the controller with community.crypto's
x509_certificate_info, openssl_privatekey_info and certificate_complete_chain; this turns their
results into one list of problems (all of them, for every certificate), so that a refusal names
everything that is wrong at once.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping


class TlsError(ValueError):
    """Input that is not what the tls role passes; the message names it."""


def _days_left(not_after: str, now: datetime.datetime) -> float:
    end = datetime.datetime.strptime(not_after, "%Y%m%d%H%M%SZ").replace(tzinfo=datetime.UTC)
    return (end - now).total_seconds() / 86400


def _covers(hostname: str, sans: list[str]) -> bool:
    return f"dns:{hostname}" in sans or f"dns:*.{hostname.split('.', 1)[-1]}" in sans


def tls_problems(certificates, cert_info, key_info, chains, min_days, now=None) -> list[str]:
    """Every problem of every certificate, as "certificate '<name>': <what>" strings.

    certificates: [{name, hostnames, ...}]; cert_info, key_info, chains: the module results, one per
    certificate in the same order (a failed read carries `msg`). min_days: tls_min_days_valid.
    """
    if not isinstance(certificates, list) or not all(isinstance(x, list) for x in (cert_info, key_info, chains)):
        raise TlsError("certificates, cert_info, key_info and chains must be lists")
    if not len(certificates) == len(cert_info) == len(key_info) == len(chains):
        raise TlsError("certificates, cert_info, key_info and chains must have one entry per certificate")
    if not isinstance(min_days, int) or isinstance(min_days, bool) or min_days < 0:
        raise TlsError(f"tls_min_days_valid must be a whole number of days >= 0, got {min_days!r}")
    now = now or datetime.datetime.now(datetime.UTC)
    out = []
    for cert, ci, ki, ch in zip(certificates, cert_info, key_info, chains, strict=True):
        if not isinstance(cert, Mapping) or not all(isinstance(x, Mapping) for x in (ci, ki, ch)):
            raise TlsError("each entry must be a mapping")
        p = f"certificate '{cert.get('name')}': "
        if not str(cert.get("cert") or "").strip() or "not_after" not in ci:
            out.append(p + "cannot read the certificate: " + str(ci.get("msg") or "no PEM certificate found"))
            continue
        fingerprints = ki.get("public_key_fingerprints")
        if not fingerprints:
            out.append(p + "cannot read the private key (wrong format or passphrase-protected)")
        elif fingerprints.get("sha256") != ci.get("public_key_fingerprints", {}).get("sha256"):
            out.append(p + "the private key does not match the certificate")
        if "complete_chain" not in ch:
            out.append(p + f"the chain is incomplete or out of order ({ch.get('msg', '')})")
        sans = [str(s).lower() for s in ci.get("subject_alt_name") or []]
        for hostname in cert.get("hostnames") or []:
            if not _covers(str(hostname).lower(), sans):
                out.append(p + f"does not cover hostname {hostname} (SANs: {', '.join(sans) or 'none'})")
        days = _days_left(ci["not_after"], now)
        valid_at = ci.get("valid_at") or {}
        if ci.get("expired") or days <= 0:
            out.append(p + f"expired on {ci['not_after']}")
        elif not valid_at.get("now", True):
            out.append(p + f"not valid yet (not before {ci.get('not_before')})")
        elif days <= min_days or not valid_at.get("min", True):
            out.append(p + f"expires in {round(days, 1)} days ({ci['not_after']}), tls_min_days_valid is {min_days}")
    return out


def tls_report(infos, node, min_days, now=None) -> list[dict]:
    """One row per certificate a node holds: {node, name, days_left, not_after, serial, renew}.

    infos: x509_certificate_info results of a loop whose item is the certificate's name (or a
    {item: name} slurp result), in any order; the rows come sorted by name.
    """
    if not isinstance(infos, list):
        raise TlsError(f"expected the x509_certificate_info results, got {infos!r}")
    now = now or datetime.datetime.now(datetime.UTC)
    rows = []
    for info in infos:
        if not isinstance(info, Mapping) or "not_after" not in info:
            raise TlsError(f"not an x509_certificate_info result: {info!r}")
        item = info.get("item")
        name = item.get("item") if isinstance(item, Mapping) else item
        days = round(_days_left(info["not_after"], now), 1)
        rows.append({"node": node, "name": name, "days_left": days, "not_after": info["not_after"],
                     "serial": info.get("serial_number"), "renew": days <= min_days})
    return sorted(rows, key=lambda r: str(r["name"]))


def tls_layout(certificates, keys, tls_dir, keep) -> dict:
    """The perch.cdn.files arguments that install every certificate on an edge in one call.

    Each certificate goes into <tls_dir>/.versions/<name>/<version>/{fullchain,privkey}.pem, the
    version being the first 16 hex digits of the SHA-256 of its chain; the link <tls_dir>/<name> is
    then swapped to it in one rename, and all but the `keep` newest versions are removed (never the
    new one). certificates: [{name, fullchain, ...}]; keys: {name: PEM private key}.
    """
    if not isinstance(certificates, list) or not all(isinstance(c, Mapping) for c in certificates):
        raise TlsError("the certificates must be a list of {name, fullchain}")
    if not isinstance(keys, Mapping):
        raise TlsError("the keys must be a mapping of certificate name to private key")
    if not isinstance(tls_dir, str) or not tls_dir.startswith("/"):
        raise TlsError(f"tls_dir {tls_dir!r} must be an absolute path")
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise TlsError(f"tls_keep_versions {keep!r} must be a whole number of at least 1")
    tls_dir = tls_dir.rstrip("/")
    layout = {"directories": [{"paths": [tls_dir, f"{tls_dir}/.versions"], "mode": "0700"}],
              "files": [], "secret_files": [], "links": [], "prune": []}
    for cert in certificates:
        name, chain = cert.get("name"), cert.get("fullchain")
        if not isinstance(name, str) or not isinstance(chain, str):
            raise TlsError(f"certificate {name!r} needs a name and a fullchain")
        if name not in keys:
            raise TlsError(f"certificate {name!r} has no private key")
        version = hashlib.sha256(chain.encode("utf-8")).hexdigest()[:16]
        store = f"{tls_dir}/.versions/{name}"
        layout["directories"].append({"paths": [store, f"{store}/{version}"], "mode": "0700"})
        layout["files"].append({"path": f"{store}/{version}/fullchain.pem", "content": chain})
        layout["secret_files"].append({"path": f"{store}/{version}/privkey.pem", "content": keys[name]})
        layout["links"].append({"path": f"{tls_dir}/{name}", "src": f".versions/{name}/{version}"})
        layout["prune"].append({"path": store, "keep": keep, "protect": [version]})
    return layout
