"""Hypothesis strategies and a brute-force oracle shared by the unit tests."""

from __future__ import annotations

import random

from ansible_collections.perch.cdn.plugins.plugin_utils.geo import default_reference, great_circle_km
from ansible_collections.perch.cdn.plugins.plugin_utils.geodata import CONTINENTS, COUNTRIES
from hypothesis import strategies as st

CODES = sorted(COUNTRIES)
PROVIDERS = ["pa", "pb", "pc"]
# a few countries get most sites so "own site" and avoid/pin cases come up often
HOT = ["DE", "US", "SG", "BR", "CH", "RU", "AU", "ZA"]

names = st.from_regex(r"[a-z][a-z0-9]{0,4}", fullmatch=True)
countries = st.one_of(st.sampled_from(HOT), st.sampled_from(CODES))
lats = st.floats(-90, 90, allow_nan=False)
lons = st.floats(-180, 180, allow_nan=False)


@st.composite
def site(draw, state=None):
    s = {
        "country": draw(countries),
        "continent": draw(st.sampled_from(sorted(CONTINENTS))),
        # sometimes exactly the country's reference point or a shared spot, to force distance ties
        "lat": draw(st.one_of(lats, st.sampled_from([0.0, 50.0, -33.5]))),
        "lon": draw(st.one_of(lons, st.sampled_from([0.0, 8.5, 151.0]))),
    }
    if draw(st.booleans()):
        s["provider"] = draw(st.sampled_from(PROVIDERS))
    st_ = state or draw(st.sampled_from(["active", "active", "active", "drained", None]))
    if st_ is not None:
        s["state"] = st_
    if draw(st.booleans()):
        s["weight"] = draw(st.integers(0, 65535))
    return s


@st.composite
def sites(draw, min_size=1, max_size=10):
    out = draw(st.dictionaries(names, site(), min_size=min_size, max_size=max_size))
    # at least one active site, or every country has an empty answer
    first = sorted(out)[0]
    out[first] = dict(out[first], state="active")
    return out


@st.composite
def policy_for(draw, sites_):
    """A valid policy for these sites; may still leave some country without an answer."""
    site_names = sorted(sites_)
    providers = sorted({s["provider"] for s in sites_.values() if s.get("provider")})
    pol = {}
    if draw(st.booleans()):
        pol["failover_depth"] = draw(st.integers(1, 5))
    if draw(st.booleans()):
        avoid = {}
        for cc in draw(st.lists(countries, max_size=4, unique=True)):
            avoid[cc] = draw(st.lists(st.sampled_from(site_names + providers), min_size=1, max_size=3, unique=True))
        pol["avoid"] = avoid
    if draw(st.booleans()):
        pin = {}
        for cc in draw(st.lists(countries, max_size=3, unique=True)):
            allowed = [n for n in site_names if not avoided(n, sites_[n], pol.get("avoid", {}).get(cc, []))]
            if allowed:
                pin[cc] = draw(st.lists(st.sampled_from(allowed), min_size=1, max_size=3, unique=True))
        pol["pin"] = pin
    return pol


def avoided(name, s, names_) -> bool:
    return name in names_ or (s.get("provider") is not None and s["provider"] in names_)


def active_sites(sites_):
    return {n: s for n, s in sites_.items() if s.get("state", "active") in ("active", None)}


def oracle(sites_, policy):
    """Brute-force geo map straight from the rules in the issue; None if some country is empty."""
    depth = policy.get("failover_depth", 3)
    act = active_sites(sites_)

    def ranked(pool, lat, lon):
        return sorted(pool, key=lambda n: (great_circle_km(lat, lon, act[n]["lat"], act[n]["lon"]), n))

    countries_ = {}
    for cc, (lat, lon, _place) in COUNTRIES.items():
        bad = policy.get("avoid", {}).get(cc, [])
        eligible = [n for n in act if not avoided(n, act[n], bad)]
        if not eligible:
            return None
        first = [n for n in policy.get("pin", {}).get(cc, []) if n in eligible]
        if not first:
            own = [n for n in eligible if act[n]["country"] == cc]
            first = ranked(own, lat, lon)[:1]
        want = max(depth, len(first))
        countries_[cc] = first + ranked([n for n in eligible if n not in first], lat, lon)[: want - len(first)]
    conts = {c: ranked(act, lat, lon)[:depth] for c, (lat, lon, _name) in CONTINENTS.items()}
    dlat, dlon = default_reference({n: {"lat": float(s["lat"]), "lon": float(s["lon"])} for n, s in act.items()})
    return {"countries": countries_, "continents": conts, "default": ranked(act, dlat, dlon)[:depth]}


def shuffled(value, rnd: random.Random):
    """The same data with every dict (and avoid list) in another order."""
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return {k: shuffled(v, rnd) for k, v in items}
    return value
