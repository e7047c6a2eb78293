# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Geo map: for every country, continent and the default, the ordered list of sites to answer with."""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping

from ansible_collections.perch.cdn.plugins.plugin_utils.geodata import CONTINENTS, COUNTRIES
from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import (
    CdnInventoryError,
    is_avoided,
    normalize_policy,
    normalize_sites,
)

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius
# dot products of unit vectors are only a pre-filter; candidates within this margin get the exact key
_DOT_MARGIN = 1e-9


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in km; this exact function defines "nearest" everywhere in perch.cdn."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dphi = p2 - p1
    dlam = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _unit(lat: float, lon: float) -> tuple[float, float, float]:
    p, lam = math.radians(lat), math.radians(lon)
    return (math.cos(p) * math.cos(lam), math.cos(p) * math.sin(lam), math.sin(p))


def default_reference(sites: Mapping[str, Mapping]) -> tuple[float, float]:
    """Spherical mean of the given sites (the middle of the CDN); fsum keeps it order-independent."""
    vecs = [_unit(s["lat"], s["lon"]) for s in sites.values()]
    x, y, z = (math.fsum(v[i] for v in vecs) for i in range(3))
    return math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x))


class _Ranker:
    """Nearest-first ranking of one fixed set of sites from arbitrary reference points."""

    def __init__(self, sites: Mapping[str, Mapping]):
        self.names = list(sites)
        self.coords = [(s["lat"], s["lon"]) for s in sites.values()]
        self.vecs = [_unit(lat, lon) for lat, lon in self.coords]
        self._index = None

    def index(self) -> dict[str, int]:
        if self._index is None:
            self._index = {n: i for i, n in enumerate(self.names)}
        return self._index

    def key(self, i: int, lat: float, lon: float) -> tuple[float, str]:
        return (great_circle_km(lat, lon, *self.coords[i]), self.names[i])

    def nearest(self, lat: float, lon: float, count: int, skip=frozenset()) -> list[int]:
        """Indices of the `count` nearest sites not in `skip`, ordered by (distance, name)."""
        cx, cy, cz = _unit(lat, lon)
        dots = [(x * cx + y * cy + z * cz, i) for i, (x, y, z) in enumerate(self.vecs) if i not in skip]
        if not dots:
            return []
        if len(dots) > count:
            # cheap cut: keep everything that could still be among the `count` nearest
            threshold = heapq.nlargest(count, (d for d, _i in dots))[-1] - _DOT_MARGIN
            dots = [di for di in dots if di[0] >= threshold]
        return sorted((i for _dot, i in dots), key=lambda i: self.key(i, lat, lon))[:count]


def build_geo_map(sites, policy=None, _normalized: bool = False) -> dict:
    """The geo map of docs/inventory.md; raises CdnInventoryError on bad input or an empty answer."""
    if not _normalized:
        sites = normalize_sites(sites)
        policy = normalize_policy(policy, sites)
    depth = policy["failover_depth"]
    active = {n: s for n, s in sites.items() if s.get("state", "active") == "active"}
    if not active:
        raise CdnInventoryError("every site in cdn_sites is drained: nothing left to answer with")
    rank_all = _Ranker(active)
    by_country: dict[str, list[str]] = {}
    for n, s in active.items():
        by_country.setdefault(s["country"], []).append(n)

    countries = {}
    for cc, (lat, lon, _place) in COUNTRIES.items():
        avoided = policy["avoid"].get(cc, ())
        if avoided:
            eligible = {n: s for n, s in active.items() if not is_avoided(n, s, avoided)}
            if not eligible:
                raise CdnInventoryError(
                    f"country {cc}: every site is drained or avoided (cdn_policy.avoid.{cc}: {list(avoided)}), "
                    "the country would get an empty answer")
            ranker = _Ranker(eligible)
        else:
            ranker = rank_all
        pinned = policy["pin"].get(cc, ())
        if pinned or cc in by_country:
            index = ranker.index()
            first = [index[n] for n in pinned if n in index]
            own = [index[n] for n in by_country.get(cc, ()) if n in index]
        else:
            first, own = [], []
        if own and not first:
            # a country with its own site is served from home first, even if a neighbour is closer
            first = [min(own, key=lambda i: ranker.key(i, lat, lon))]
        want = max(depth, len(first))
        rest = ranker.nearest(lat, lon, want - len(first), skip=frozenset(first)) if want > len(first) else []
        countries[cc] = [ranker.names[i] for i in first + rest]

    continents = {
        code: [rank_all.names[i] for i in rank_all.nearest(lat, lon, depth)]
        for code, (lat, lon, _what) in CONTINENTS.items()
    }
    dlat, dlon = default_reference(active)
    default = [rank_all.names[i] for i in rank_all.nearest(dlat, dlon, depth)]
    return {"countries": countries, "continents": continents, "default": default}
