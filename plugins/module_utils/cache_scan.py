# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find nginx proxy_cache files by the key stored in their header.

An nginx cache file starts with a binary header, then a line ``KEY: <key>`` and the upstream
response. Debian's ngx_cache_purge (2.3) purges one exact key only; purging by prefix (a "tag"
such as every metadata file of an apt suite) walks the cache directory and unlinks the files whose
key matches, which is what the module itself does for one key. nginx treats a missing file as a miss.
"""

import os

KEY_MARK = b"\nKEY: "
HEADER_READ = 8192


def read_key(path):
    """Return the cache key stored in ``path`` (str), or None if it is not a cache file."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEADER_READ)
    except OSError:
        return None
    start = head.find(KEY_MARK)
    if start < 0:
        return None
    start += len(KEY_MARK)
    end = head.find(b"\n", start)
    if end < 0:
        return None
    return head[start:end].decode("utf-8", "replace")


def matching_files(cache_dir, prefixes=(), keys=()):
    """Yield (path, key) for every cache file under ``cache_dir`` whose key equals one of ``keys``
    or starts with one of ``prefixes``, in a stable (sorted) order."""
    prefixes = tuple(prefixes)
    keys = frozenset(keys)
    for root, dirs, files in os.walk(cache_dir):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            key = read_key(path)
            if key is None:
                continue
            if key in keys or (prefixes and key.startswith(prefixes)):
                yield path, key
