# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find nginx proxy_cache files by the key stored in their header.

An nginx cache file starts with a binary header, then a line ``KEY: <key>`` and the upstream
response. Debian's ngx_cache_purge (2.3) purges one exact key only; purging by prefix (a "tag"
such as every metadata file of an apt suite) walks the cache directory and unlinks the files whose
key matches, which is what the module itself does for one key. nginx treats a missing file as a miss.

The cache tree belongs to nginx's user, so nothing in it is trusted: the walk never follows a
symbolic link, opens files without blocking (a FIFO cannot hang it), reads regular files only, and
every file is opened and removed relative to its directory's descriptor, so a directory swapped for
a link between the scan and the removal cannot redirect either outside the cache.
"""

import os
import stat

KEY_MARK = b"\nKEY: "
HEADER_READ = 8192
_OPEN = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def read_key_at(dir_fd, name):
    """The cache key stored in the regular file ``name`` of directory ``dir_fd``, or None."""
    try:
        fd = os.open(name, _OPEN, dir_fd=dir_fd)
    except OSError:  # a symbolic link (ELOOP), gone, or not readable
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        head = os.read(fd, HEADER_READ)
    except OSError:
        return None
    finally:
        os.close(fd)
    start = head.find(KEY_MARK)
    if start < 0:
        return None
    start += len(KEY_MARK)
    end = head.find(b"\n", start)
    if end < 0:
        return None
    return head[start:end].decode("utf-8", "replace")


def read_key(path):
    """Return the cache key stored in ``path`` (str), or None if it is not a regular cache file."""
    directory, name = os.path.split(path)
    try:
        dir_fd = os.open(directory or ".", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return None
    try:
        return read_key_at(dir_fd, name)
    finally:
        os.close(dir_fd)


def matching_files(cache_dir, prefixes=(), keys=()):
    """Yield (path, key, dir_fd, name) for every regular cache file under ``cache_dir`` whose key
    equals one of ``keys`` or starts with one of ``prefixes``, in a stable (sorted) order.

    ``dir_fd`` stays open until the next item: remove a file with ``os.unlink(name, dir_fd=dir_fd)``.
    """
    prefixes = tuple(prefixes)
    keys = frozenset(keys)
    for root, dirs, files, root_fd in os.fwalk(cache_dir, follow_symlinks=False):
        dirs.sort()
        for name in sorted(files):
            key = read_key_at(root_fd, name)
            if key is None:
                continue
            if key in keys or (prefixes and key.startswith(prefixes)):
                yield os.path.join(root, name), key, root_fd, name
