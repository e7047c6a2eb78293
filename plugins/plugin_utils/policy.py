# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merge operator evacuations (written by playbooks/evacuate.yml) into the geo policy."""

from ansible_collections.perch.cdn.plugins.plugin_utils.inventory import CdnInventoryError


def with_evacuations(policy, evacuations, nodes=None):
    """Return a copy of ``policy`` whose ``avoid`` also holds ``evacuations``.

    ``evacuations`` maps a country to sites, providers or node names. A node name is replaced by
    its site, because a GeoDNS answer is made per site: keeping a country off one node keeps it
    off that node's site. Unknown names are kept, so that validation reports them.
    """
    policy = dict(policy or {})
    evacuations = evacuations or {}
    nodes = nodes or {}
    if not isinstance(evacuations, dict):
        raise CdnInventoryError(f"cdn_evacuations: expected a dict country -> [names], got {evacuations!r}")
    avoid = {cc: list(names) for cc, names in (policy.get("avoid") or {}).items()}
    for cc, names in evacuations.items():
        if not isinstance(names, list):
            raise CdnInventoryError(f"cdn_evacuations: country {cc!r}: expected a list, got {names!r}")
        for name in names:
            if not isinstance(name, str) or not name:
                raise CdnInventoryError(f"cdn_evacuations: country {cc!r}: entries are site, provider or "
                                        f"node names, got {name!r}")
            target = nodes[name]["site"] if name in nodes else name
            avoid.setdefault(cc, [])
            if target not in avoid[cc]:
                avoid[cc].append(target)
    policy["avoid"] = {cc: avoid[cc] for cc in sorted(avoid)}
    return policy
