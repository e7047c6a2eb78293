#!/usr/bin/python
# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: cache_purge
short_description: Purge nginx proxy_cache entries by exact key or by key prefix
version_added: 0.1.0
author: perch.cdn maintainers (@perch-cdn)
description:
  - Removes the files of an nginx C(proxy_cache) whose stored key equals one of O(keys) or starts
    with one of O(prefixes). nginx treats a removed file as a cache miss and fetches it again.
  - Used by C(playbooks/purge.yml) on every edge for purges by prefix or tag (for example every
    metadata file of an apt suite), which Debian's ngx_cache_purge module cannot do.
  - The perch.cdn.cache_edge role keys each service's cache by C($uri$is_args$args), plus
    C($slice_range) for sliced large files, so a URL path is a key prefix of all its slices.
options:
  cache_dir:
    description: The service's cache directory, for example C(/var/cache/perch/deb).
    type: path
    required: true
  prefixes:
    description: Key prefixes to purge, for example C(/dists/bookworm/).
    type: list
    elements: str
    default: []
  keys:
    description: Exact keys to purge, for example C(/dists/bookworm/InRelease).
    type: list
    elements: str
    default: []
  exclude:
    description: Keep entries whose key contains one of these strings (for example C(/by-hash/), which never changes).
    type: list
    elements: str
    default: []
  confirm_all:
    description: A prefix of C(/) matches every entry of the cache; it is refused unless this is V(true).
    type: bool
    default: false
notes:
  - The cache tree belongs to nginx's user, so the module treats it as untrusted. It never follows a symbolic link
    and never blocks on a special file; it reads and removes regular files only, each relative to its directory.
  - When run as root, it drops to the owner of O(cache_dir) before it reads anything.
attributes:
  check_mode:
    support: full
    description: Reports what would be purged without removing anything.
  diff_mode:
    support: none
    description: Returns no diff; RV(purged) lists what was (or would be) removed.
"""

EXAMPLES = r"""
- name: Purge every metadata file of the bookworm suite
  perch.cdn.cache_purge:
    cache_dir: /var/cache/perch/deb
    prefixes: [/dists/bookworm/]
"""

RETURN = r"""
purged:
  description: The keys of the removed entries, sorted.
  type: list
  elements: str
  returned: always
count:
  description: How many cache files were removed.
  type: int
  returned: always
"""

import contextlib  # noqa: E402 (after the documentation strings, as Ansible modules are written)
import os  # noqa: E402
import stat  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.perch.cdn.plugins.module_utils.cache_scan import matching_files  # noqa: E402


@contextlib.contextmanager
def _as_owner(uid, gid, drop):
    """Walk and unlink with the cache owner's rights (what nginx's user may do in its own cache,
    and nothing more), then become root again. Only the effective ids change, so that the module
    can still read its own payload to report."""
    if not drop:
        yield
        return
    groups = os.getgroups()
    os.setgroups([])
    os.setegid(gid)
    os.seteuid(uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)
        os.setgroups(groups)


def main():
    module = AnsibleModule(
        argument_spec={
            "cache_dir": {"type": "path", "required": True},
            "prefixes": {"type": "list", "elements": "str", "default": []},
            "keys": {"type": "list", "elements": "str", "default": [], "no_log": False},
            "exclude": {"type": "list", "elements": "str", "default": []},
            "confirm_all": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    cache_dir = module.params["cache_dir"]
    prefixes = module.params["prefixes"]
    keys = module.params["keys"]
    if not prefixes and not keys:
        module.fail_json(msg="perch.cdn.cache_purge: give at least one of prefixes or keys")
    if "" in prefixes:
        module.fail_json(msg="perch.cdn.cache_purge: an empty prefix would purge the whole cache; refusing")
    if "/" in prefixes and not module.params["confirm_all"]:
        module.fail_json(msg="perch.cdn.cache_purge: the prefix / purges every entry of the cache; "
                             "set confirm_all (purge.yml: -e confirm_all=true) if that is what you want")
    try:
        info = os.lstat(cache_dir)
    except OSError as exc:
        module.fail_json(msg=f"perch.cdn.cache_purge: cache_dir {cache_dir!r}: {exc}")
    if not stat.S_ISDIR(info.st_mode):
        module.fail_json(msg=f"perch.cdn.cache_purge: cache_dir {cache_dir!r} is not a directory (no link is followed)")
    drop = os.geteuid() == 0 and info.st_uid != 0
    purged, error = [], None
    with _as_owner(info.st_uid, info.st_gid, drop):
        for path, key, dir_fd, name in matching_files(cache_dir, prefixes, keys):
            if any(part in key for part in module.params["exclude"]):
                continue
            if not module.check_mode:
                try:
                    os.unlink(name, dir_fd=dir_fd)
                except FileNotFoundError:
                    continue  # nginx's cache manager removed it meanwhile
                except OSError as exc:
                    error = f"perch.cdn.cache_purge: cannot remove {path!r}: {exc}"
                    break
            purged.append(key)
    # back to root here: exit_json imports from the module's payload, which only root may read
    if error:
        module.fail_json(msg=error, purged=sorted(purged))
    module.exit_json(changed=bool(purged), purged=sorted(purged), count=len(purged))


if __name__ == "__main__":
    main()
