"""perch.cdn.geo_map: unit tests and hypothesis properties for every rule of issue 3."""

import math
import random

import pycountry
import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.perch.cdn.plugins.filter.geo_map import FilterModule, geo_map
from ansible_collections.perch.cdn.plugins.plugin_utils.geo import (
    build_geo_map,
    default_reference,
    great_circle_km,
)
from ansible_collections.perch.cdn.plugins.plugin_utils.geodata import CONTINENTS, COUNTRIES
from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import CdnInventoryError
from ansible_collections.perch.cdn.tests.unit.utils.strategies import (
    active_sites,
    avoided,
    oracle,
    policy_for,
    shuffled,
    sites,
)
from hypothesis import given
from hypothesis import strategies as st

LAB = {
    "fra": {"country": "DE", "continent": "EU", "lat": 50.11, "lon": 8.68, "provider": "lab-eu"},
    "nyc": {"country": "US", "continent": "NA", "lat": 40.71, "lon": -74.01, "provider": "lab-na"},
    "sin": {"country": "SG", "continent": "AS", "lat": 1.35, "lon": 103.82, "provider": "lab-as"},
}


# ---------------------------------------------------------------- reference data

def test_every_iso_country_has_a_reference_point():
    assert set(COUNTRIES) == {c.alpha_2 for c in pycountry.countries}
    assert len(COUNTRIES) == 249
    for cc, (lat, lon, place) in COUNTRIES.items():
        assert -90 <= lat <= 90 and -180 <= lon <= 180, cc
        assert place


def test_continent_codes():
    assert sorted(CONTINENTS) == ["AF", "AN", "AS", "EU", "NA", "OC", "SA"]


def test_great_circle_known_distances():
    assert great_circle_km(0, 0, 0, 0) == 0
    assert great_circle_km(0, 0, 0, 90) == pytest.approx(math.pi / 2 * 6371.0088)
    assert great_circle_km(90, 0, -90, 0) == pytest.approx(math.pi * 6371.0088)
    # London - Paris is about 344 km
    assert great_circle_km(51.51, -0.13, 48.86, 2.35) == pytest.approx(344, abs=3)
    # across the date line is short, not half the world
    assert great_circle_km(0, 179.5, 0, -179.5) == pytest.approx(111.2, abs=0.5)


def test_filter_module_exports_geo_map():
    assert FilterModule().filters()["geo_map"] is geo_map


# ---------------------------------------------------------------- examples

def test_lab_map():
    gm = geo_map(LAB, {"failover_depth": 3})
    assert set(gm) == {"countries", "continents", "default"}
    assert len(gm["countries"]) == 249 and len(gm["continents"]) == 7
    assert gm["countries"]["DE"] == ["fra", "nyc", "sin"]
    assert gm["countries"]["US"] == ["nyc", "fra", "sin"]
    assert gm["countries"]["SG"] == ["sin", "fra", "nyc"]
    assert gm["countries"]["BR"][0] == "nyc"
    assert gm["countries"]["JP"][0] == "sin"
    assert gm["continents"]["EU"][0] == "fra"
    assert gm["continents"]["NA"][0] == "nyc"
    assert sorted(gm["default"]) == ["fra", "nyc", "sin"]


def test_policy_defaults():
    assert geo_map(LAB) == geo_map(LAB, {}) == geo_map(LAB, None) == geo_map(LAB, {"failover_depth": 3})
    assert all(len(v) == 1 for v in geo_map(LAB, {"failover_depth": 1})["countries"].values())


def test_own_site_first_even_if_a_neighbour_is_closer():
    sites_ = {
        # a Swiss site far in the south-west, a German one right next to Bern
        "gva": {"country": "CH", "continent": "EU", "lat": 46.2, "lon": 6.1},
        "nearbern": {"country": "DE", "continent": "EU", "lat": 47.0, "lon": 7.5},
        "zrh": {"country": "CH", "continent": "EU", "lat": 47.37, "lon": 8.54},
    }
    ch = geo_map(sites_, {"failover_depth": 3})["countries"]["CH"]
    # own sites: zrh is nearer to Bern than gva; then pure distance
    assert ch[0] == "zrh"
    assert ch == ["zrh", "nearbern", "gva"]
    # a drained own site does not count
    sites_["zrh"]["state"] = "drained"
    sites_["gva"]["state"] = "drained"
    assert geo_map(sites_)["countries"]["CH"] == ["nearbern"]


def test_drained_and_avoided_never_listed():
    sites_ = dict(LAB, hel={"country": "FI", "continent": "EU", "lat": 60.17, "lon": 24.94, "state": "drained"})
    gm = geo_map(sites_, {"avoid": {"RU": ["lab-eu"], "CN": ["sin"]}})
    assert all("hel" not in v for v in gm["countries"].values())
    assert "hel" not in gm["default"] and all("hel" not in v for v in gm["continents"].values())
    assert gm["countries"]["RU"] == ["nyc", "sin"]
    assert gm["countries"]["CN"] == ["fra", "nyc"]


def test_pin_overrides_order_and_is_filled_up():
    gm = geo_map(LAB, {"pin": {"DE": ["sin"], "JP": ["nyc", "fra"]}, "failover_depth": 2})
    assert gm["countries"]["DE"] == ["sin", "fra"]
    assert gm["countries"]["JP"] == ["nyc", "fra"]
    # a pin longer than failover_depth is kept whole
    gm = geo_map(LAB, {"pin": {"JP": ["nyc", "fra", "sin"]}, "failover_depth": 1})
    assert gm["countries"]["JP"] == ["nyc", "fra", "sin"]
    # drained pinned sites are skipped, the rest of the rules still apply
    drained = dict(LAB, nyc=dict(LAB["nyc"], state="drained"))
    assert geo_map(drained, {"pin": {"US": ["nyc"]}})["countries"]["US"] == ["fra", "sin"]


def test_ties_broken_by_name():
    same = {"country": "FR", "continent": "EU", "lat": 10.0, "lon": 10.0}
    gm = geo_map({"b": dict(same), "a": dict(same), "c": dict(same)})
    assert gm["countries"]["JP"] == ["a", "b", "c"]
    assert gm["countries"]["FR"] == ["a", "b", "c"]
    assert gm["default"] == ["a", "b", "c"]


def test_many_sites_at_one_point_fill_the_depth():
    same = {"country": "FR", "continent": "EU", "lat": 10.0, "lon": 10.0}
    many = {f"s{i:02d}": dict(same) for i in range(30)}
    gm = geo_map(many, {"failover_depth": 4})
    assert gm["countries"]["DE"] == ["s00", "s01", "s02", "s03"]


# ---------------------------------------------------------------- errors

def test_empty_answer_all_drained():
    drained = {n: dict(s, state="drained") for n, s in LAB.items()}
    with pytest.raises(AnsibleFilterError, match=r"perch\.cdn\.geo_map: every site in cdn_sites is drained"):
        geo_map(drained)


def test_empty_answer_for_one_country():
    with pytest.raises(AnsibleFilterError) as exc:
        geo_map(LAB, {"avoid": {"RU": ["lab-eu", "lab-na", "sin"]}})
    msg = str(exc.value)
    assert msg.startswith("perch.cdn.geo_map: ")
    assert "country RU" in msg and "empty answer" in msg


@pytest.mark.parametrize(("policy", "words"), [
    ({"avoid": {"XX": ["fra"]}}, ["cdn_policy.avoid entry 'XX'", "'country'", "'XX'"]),
    ({"avoid": {"RU": ["nowhere"]}}, ["cdn_policy.avoid entry 'RU'", "'avoid'", "'nowhere'"]),
    ({"avoid": {"RU": "fra"}}, ["cdn_policy.avoid entry 'RU'", "list of names"]),
    ({"pin": {"CH": ["zrh1"]}}, ["cdn_policy.pin entry 'CH'", "'pin'", "unknown site 'zrh1'"]),
    ({"pin": {"ch": ["fra"]}}, ["cdn_policy.pin entry 'ch'", "'country'"]),
    ({"pin": {"CH": []}}, ["cdn_policy.pin entry 'CH'", "at least one site"]),
    ({"pin": {"CH": ["fra", "fra"]}}, ["cdn_policy.pin entry 'CH'", "twice"]),
    ({"pin": {"RU": ["fra"]}, "avoid": {"RU": ["lab-eu"]}}, ["cdn_policy.pin entry 'RU'", "also in cdn_policy.avoid"]),
    ({"failover_depth": 0}, ["cdn_policy", "'failover_depth'", "0"]),
    ({"failover_depth": "3"}, ["cdn_policy", "'failover_depth'"]),
    ({"failover_depth": True}, ["cdn_policy", "'failover_depth'"]),
    ({"failover": 3}, ["cdn_policy", "'failover'", "unknown field"]),
    ([], ["cdn_policy must be a mapping"]),
])
def test_policy_errors(policy, words):
    with pytest.raises(AnsibleFilterError) as exc:
        geo_map(LAB, policy)
    msg = str(exc.value)
    assert msg.startswith("perch.cdn.geo_map: ")
    for w in words:
        assert w in msg


# ---------------------------------------------------------------- properties

@given(st.data())
def test_property_matches_bruteforce_oracle(data):
    """Every list: all 249 countries, depth, drained/avoided excluded, own site first, pin, nearest first,
    ties by name -- checked against a naive implementation of the rules."""
    s = data.draw(sites())
    pol = data.draw(policy_for(s))
    expected = oracle(s, pol)
    if expected is None:
        with pytest.raises(CdnInventoryError, match="empty answer"):
            build_geo_map(s, pol)
        return
    got = build_geo_map(s, pol)
    assert got == expected


@given(st.data())
def test_property_invariants(data):
    s = data.draw(sites())
    pol = data.draw(policy_for(s))
    try:
        gm = build_geo_map(s, pol)
    except CdnInventoryError as exc:
        assert "empty answer" in str(exc)
        return
    depth = pol.get("failover_depth", 3)
    act = active_sites(s)
    assert set(gm["countries"]) == set(COUNTRIES)
    assert set(gm["continents"]) == set(CONTINENTS)
    for cc, lst in gm["countries"].items():
        bad = pol.get("avoid", {}).get(cc, [])
        eligible = [n for n in act if not avoided(n, act[n], bad)]
        pinned = [n for n in pol.get("pin", {}).get(cc, []) if n in eligible]
        assert len(lst) == max(min(depth, len(eligible)), len(pinned))
        assert len(set(lst)) == len(lst)
        assert all(n in eligible for n in lst)
        assert lst[: len(pinned)] == pinned
        if not pinned and any(act[n]["country"] == cc for n in eligible):
            assert act[lst[0]]["country"] == cc
        # after the pinned/own head, nearest first with ties by name
        head = len(pinned) or (1 if any(act[n]["country"] == cc for n in eligible) else 0)
        lat, lon, _place = COUNTRIES[cc]
        keys = [(great_circle_km(lat, lon, act[n]["lat"], act[n]["lon"]), n) for n in lst[head:]]
        assert keys == sorted(keys)
    for lst in [*gm["continents"].values(), gm["default"]]:
        assert len(lst) == min(depth, len(act)) and all(n in act for n in lst)


@given(st.data())
def test_property_pure_any_dict_order(data):
    s = data.draw(sites())
    pol = data.draw(policy_for(s))
    seed = data.draw(st.integers(0, 2**32 - 1))
    try:
        a = build_geo_map(s, pol)
    except CdnInventoryError as exc:
        with pytest.raises(CdnInventoryError) as again:
            build_geo_map(shuffled(s, random.Random(seed)), shuffled(pol, random.Random(seed)))
        assert str(again.value) == str(exc)
        return
    b = build_geo_map(shuffled(s, random.Random(seed)), shuffled(pol, random.Random(seed)))
    assert a == b
    assert repr(a) == repr(b)  # same key order too, so to_nice_yaml/json dumps are byte-identical


@given(st.data())
def test_property_default_reference_order_independent(data):
    s = active_sites(data.draw(sites(min_size=2)))
    s = {n: {"lat": float(v["lat"]), "lon": float(v["lon"])} for n, v in s.items()}
    order = data.draw(st.permutations(sorted(s)))
    assert default_reference(s) == default_reference({n: s[n] for n in order})


@given(sites(), st.sampled_from(["XX", "de", "UK", "", None, 49]))
def test_property_unknown_country(s, bad):
    name = sorted(s)[-1]
    s[name] = dict(s[name], country=bad)
    with pytest.raises(AnsibleFilterError) as exc:
        geo_map(s)
    msg = str(exc.value)
    assert msg.startswith("perch.cdn.geo_map: ") and f"site {name!r}" in msg and "'country'" in msg


@given(sites(), st.sampled_from(["EUR", "eu", "XX", "", 1]))
def test_property_unknown_continent(s, bad):
    name = sorted(s)[-1]
    s[name] = dict(s[name], continent=bad)
    with pytest.raises(AnsibleFilterError) as exc:
        geo_map(s)
    msg = str(exc.value)
    assert f"site {name!r}" in msg and "'continent'" in msg


@given(sites(), st.sampled_from(["lat", "lon"]),
       st.one_of(st.floats(allow_nan=True, allow_infinity=True).filter(lambda v: not -90 <= v <= 90),
                 st.sampled_from(["50.1", True, None])))
def test_property_coordinates_out_of_range(s, field, bad):
    if field == "lon" and isinstance(bad, float) and -180 <= bad <= 180:
        bad = 181.0
    name = sorted(s)[0]
    s[name] = dict(s[name], **{field: bad})
    with pytest.raises(AnsibleFilterError) as exc:
        geo_map(s)
    msg = str(exc.value)
    assert f"site {name!r}" in msg and f"'{field}'" in msg


@given(sites(), st.sampled_from(["Active", "down", "", 1, "enabled"]))
def test_property_unknown_site_state(s, bad):
    name = sorted(s)[-1]
    s[name] = dict(s[name], state=bad)
    with pytest.raises(AnsibleFilterError) as exc:
        geo_map(s)
    assert f"site {name!r}" in str(exc.value) and "'state'" in str(exc.value)


@given(sites(), st.sampled_from(["weight", "provider", "bogus"]), st.sampled_from([-1, 70000, "", 1.5, True]))
def test_property_bad_optional_fields(s, field, bad):
    if field == "provider" and bad != "":
        bad = 7
    name = sorted(s)[-1]
    s[name] = dict(s[name], **{field: bad})
    with pytest.raises(AnsibleFilterError) as exc:
        geo_map(s)
    assert f"site {name!r}" in str(exc.value) and f"'{field}'" in str(exc.value)


@pytest.mark.parametrize("bad", ["Fra", "fra_1", "-x", "", 12, "a" * 64])
def test_site_names_are_dns_labels(bad):
    with pytest.raises(AnsibleFilterError, match="site names must be DNS labels"):
        geo_map(dict(LAB, **{bad: LAB["fra"]}) if isinstance(bad, str) else {bad: LAB["fra"]})


@pytest.mark.parametrize("bad", [None, {}, [], "fra"])
def test_sites_must_be_a_nonempty_mapping(bad):
    with pytest.raises(AnsibleFilterError, match=r"^perch\.cdn\.geo_map: cdn_sites"):
        geo_map(bad)


def test_missing_required_field():
    for field in ("country", "continent", "lat", "lon"):
        broken = dict(LAB, fra={k: v for k, v in LAB["fra"].items() if k != field})
        with pytest.raises(AnsibleFilterError, match=rf"site 'fra': field '{field}': missing"):
            geo_map(broken)
