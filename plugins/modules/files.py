#!/usr/bin/python
# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: files
short_description: Make many directories, files and absent paths right in one step
version_added: 1.0.0
author: perch.cdn maintainers (@perch-cdn)
description:
  - Does what a loop of M(ansible.builtin.file) and M(ansible.builtin.copy) tasks does, in one module call per
    host, so a run where nothing changes costs one round trip instead of one per path.
  - Removes O(absent), then makes O(directories), writes O(files) and O(secret_files), points O(links), and last
    removes what O(prune) leaves over, in the order given. A file or a link is made beside its destination and
    renamed over it, so no half-written file and no missing link is ever visible.
  - Owner, group and mode are set on what exists when they differ; RV(changed_paths) names every path that
    changed, so a task can react to one of them (C(when) or C(changed_when) on the registered result).
options:
  absent:
    description: Paths to remove (a file, a link or a whole directory).
    type: list
    elements: path
    default: []
  directories:
    description: Directories to make. Missing parents are made with the same owner, group and mode.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path. One of O(directories[].path) and O(directories[].paths) is needed.
        type: path
      paths:
        description: Absolute paths of several directories with the same owner, group and mode.
        type: list
        elements: path
      owner:
        description: Owner's name.
        type: str
        default: root
      group:
        description: Group's name.
        type: str
        default: root
      mode:
        description: Octal mode, a string such as V("0755").
        type: str
        default: "0755"
  files:
    description: Files to write. The directory a file goes in must exist or be in O(directories).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      content:
        description: The file's content.
        type: str
        required: true
      owner:
        description: Owner's name.
        type: str
        default: root
      group:
        description: Group's name.
        type: str
        default: root
      mode:
        description: Octal mode, a string such as V("0644").
        type: str
        default: "0644"
      validate:
        description:
          - A command that checks the new content before it replaces the file, with V(%s) for the path of the
            new content (written beside the destination). When it fails, the file is left as it was and the task
            fails, naming the file and the command. Not run in check mode.
        type: str
  secret_files:
    description:
      - Files whose content is never shown, in a diff, a result or a log (a private key). Written after O(files).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      content:
        description: The file's content.
        type: str
        required: true
      owner:
        description: Owner's name.
        type: str
        default: root
      group:
        description: Group's name.
        type: str
        default: root
      mode:
        description: Octal mode, a string such as V("0600").
        type: str
        default: "0600"
      validate:
        description:
          - As O(files[].validate). The command's output is not shown, as it may quote the content.
        type: str
  links:
    description:
      - Symbolic links to point, each swapped in one rename. A real directory in the way is an error.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the link.
        type: path
        required: true
      src:
        description: What the link points to, as written in the link (relative to its directory or absolute).
        type: str
        required: true
  prune:
    description:
      - Directories whose subdirectories are versions; keep the newest (by modification time) and remove the rest.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the directory that holds the versions.
        type: path
        required: true
      keep:
        description: How many versions to keep, the O(prune[].protect) ones included.
        type: int
        required: true
      protect:
        description: Names of versions never removed (the one a link points to), kept first and counted in
          O(prune[].keep), whether or not they exist yet.
        type: list
        elements: str
        default: []
attributes:
  check_mode:
    support: full
    description: Reports what would change, and changes nothing.
  diff_mode:
    support: full
    description: Shows each changed file's content before and after (not a O(secret_files) one), and each made or
      removed path.
"""

EXAMPLES = r"""
- name: Lay out the service's files
  perch.cdn.files:
    absent: [/etc/nginx/sites-enabled/default]
    directories:
      - {path: /var/cache/perch, owner: www-data, group: www-data, mode: "0700"}
    files:
      - path: /etc/sysctl.d/60-perch.conf
        content: "net.core.somaxconn = 4096\n"
  register: laid_out

- name: Install a new version of a certificate, swap the link to it, keep two versions
  perch.cdn.files:
    directories:
      - {path: /etc/perch/tls/.versions/cdn/0123abcd, mode: "0700"}
    files:
      - {path: /etc/perch/tls/.versions/cdn/0123abcd/fullchain.pem, content: "{{ chain }}"}
    secret_files:
      - {path: /etc/perch/tls/.versions/cdn/0123abcd/privkey.pem, content: "{{ key }}"}
    links:
      - {path: /etc/perch/tls/cdn, src: .versions/cdn/0123abcd}
    prune:
      - {path: /etc/perch/tls/.versions/cdn, keep: 2, protect: [0123abcd]}

- name: Apply the kernel settings when they changed
  ansible.builtin.command: sysctl -q -p /etc/sysctl.d/60-perch.conf
  when: "'/etc/sysctl.d/60-perch.conf' in laid_out.changed_paths"
  changed_when: true
"""

RETURN = r"""
changed_paths:
  description: Every path that was (or in check mode would be) removed, made, written, pointed elsewhere or given
    other attributes, in the order it was handled.
  type: list
  elements: str
  returned: always
"""

import grp  # noqa: E402 (after the documentation strings, as Ansible modules are written)
import os  # noqa: E402
import pwd  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

_ENTRY = {
    "path": {"type": "path", "required": True},
    "owner": {"type": "str", "default": "root"},
    "group": {"type": "str", "default": "root"},
}


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (UnicodeDecodeError, IsADirectoryError):
        return ""


def _checked(module, entries, what):
    """Absolute, normalised paths, octal modes and existing owners, or a failure that names the entry."""
    for e in entries:
        where = f"perch.cdn.files: {what} {e['path']!r}"
        if not os.path.isabs(e["path"]):
            module.fail_json(msg=f"{where}: the path must be absolute")
        e["path"] = os.path.normpath(e["path"])
        try:
            int(e["mode"], 8)
        except ValueError:
            module.fail_json(msg=f"{where}: mode {e['mode']!r} is not an octal string such as '0644'")
        if e.get("validate") is not None and "%s" not in e["validate"]:
            module.fail_json(msg=f"{where}: validate {e['validate']!r} has no %s for the new content")
        e["pending"] = None
        for field, lookup in (("owner", pwd.getpwnam), ("group", grp.getgrnam)):
            try:
                lookup(e[field])
            except KeyError:
                # --check on a new node: the package that makes the user comes earlier in the same run
                if not module.check_mode:
                    module.fail_json(msg=f"{where}: {field} {e[field]!r} does not exist")
                e["pending"] = f"{field} {e[field]} (does not exist yet)"
    return entries


def _attributes(module, entry, result=None):
    """Set owner, group and mode where they differ (nothing in check mode); True when one did. With result,
    a path whose attributes alone change is added to it."""
    diff = {"before_header": entry["path"], "after_header": entry["path"], "before": {}, "after": {}}
    if entry["pending"]:
        if result is not None:
            result["changed_paths"].append(entry["path"])
            result["diff"].append(dict(diff, after={"pending": entry["pending"]}))
        return True
    changed = module.set_owner_if_different(entry["path"], entry["owner"], False, diff)
    changed = module.set_group_if_different(entry["path"], entry["group"], changed, diff)
    changed = module.set_mode_if_different(entry["path"], entry["mode"], changed, diff)
    if changed and result is not None:
        result["changed_paths"].append(entry["path"])
        result["diff"].append(diff)
    return changed


def _remove(module, path, result):
    if not os.path.lexists(path):
        return
    result["changed_paths"].append(path)
    result["diff"].append({"before_header": path, "after_header": path, "before": "present\n", "after": "absent\n"})
    if not module.check_mode:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


def _directory(module, entry, result):
    path = entry["path"]
    if os.path.lexists(path) and not os.path.isdir(path):
        module.fail_json(msg=f"perch.cdn.files: directory {path!r} exists and is not a directory", **result)
    missing = []
    parent = path
    while not os.path.lexists(parent):
        missing.insert(0, parent)
        parent = os.path.dirname(parent)
    for new in missing:
        result["changed_paths"].append(new)
        result["diff"].append({"before_header": new, "after_header": new, "before": "absent\n",
                               "after": "directory\n"})
        if not module.check_mode:
            os.mkdir(new)
            _attributes(module, dict(entry, path=new))
    if not missing:
        _attributes(module, entry, result)


def _file(module, entry, result):
    path = entry["path"]
    before = _read(path)
    if os.path.isdir(path):
        module.fail_json(msg=f"perch.cdn.files: file {path!r} is a directory", **result)
    if before != entry["content"] or os.path.islink(path):
        result["changed_paths"].append(path)
        shown = "(secret)\n" if entry["secret"] else None
        result["diff"].append({"before_header": path, "after_header": path,
                               "before": shown or (before or ""), "after": shown or entry["content"]})
        if module.check_mode:
            return
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            module.fail_json(msg=f"perch.cdn.files: file {path!r}: its directory does not exist", **result)
        fd, tmp = tempfile.mkstemp(prefix=".perch-", dir=directory)
        try:
            os.fchmod(fd, int(entry["mode"], 8))
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(entry["content"])
            if entry.get("validate"):
                _validate(module, entry, tmp, result)
            if os.path.islink(path):
                os.unlink(path)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        _attributes(module, entry)
    else:
        _attributes(module, entry, result)


def _validate(module, entry, tmp, result):
    """Run the entry's validate command on the new content (at tmp); a failure fails the task, the file untouched."""
    command = entry["validate"]
    rc, out, err = module.run_command(command.replace("%s", shlex.quote(tmp)))
    if rc != 0:
        os.unlink(tmp)
        said = "(not shown: a secret file)" if entry["secret"] else (err or out).strip()[-2000:]
        module.fail_json(msg=f"perch.cdn.files: file {entry['path']!r}: validate {command!r} refused the new content "
                             f"(rc {rc}), the file is unchanged: {said}", **result)


def _link(module, entry, result):
    path, src = os.path.normpath(entry["path"]), entry["src"]
    if not os.path.isabs(path):
        module.fail_json(msg=f"perch.cdn.files: link {path!r}: the path must be absolute", **result)
    if os.path.isdir(path) and not os.path.islink(path):
        module.fail_json(msg=f"perch.cdn.files: link {path!r} is a real directory; move it away once", **result)
    before = os.readlink(path) if os.path.islink(path) else None
    if before == src:
        return
    result["changed_paths"].append(path)
    was = f"-> {before}\n" if before else ("file\n" if os.path.lexists(path) else "absent\n")
    result["diff"].append({"before_header": path, "after_header": path, "before": was, "after": f"-> {src}\n"})
    if module.check_mode:
        return
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        module.fail_json(msg=f"perch.cdn.files: link {path!r}: its directory does not exist", **result)
    tmp = os.path.join(directory, f".perch-link-{os.getpid()}-{os.path.basename(path)}")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(src, tmp)
    os.replace(tmp, path)


def _prune(module, entry, result):
    path = os.path.normpath(entry["path"])
    if not os.path.isabs(path) or path == "/":
        module.fail_json(msg=f"perch.cdn.files: prune {path!r}: the path must be absolute, and not /", **result)
    if entry["keep"] < 1:
        module.fail_json(msg=f"perch.cdn.files: prune {path!r}: keep {entry['keep']} must be at least 1", **result)
    if not os.path.isdir(path):
        return
    protect = set(entry["protect"])
    versions = [e for e in os.scandir(path) if e.is_dir(follow_symlinks=False) and e.name not in protect]
    versions.sort(key=lambda e: e.stat(follow_symlinks=False).st_mtime, reverse=True)
    for old in versions[max(0, entry["keep"] - len(protect)):]:
        _remove(module, old.path, result)


def main():
    module = AnsibleModule(
        argument_spec={
            "absent": {"type": "list", "elements": "path", "default": []},
            "directories": {"type": "list", "elements": "dict", "default": [], "options": {
                **_ENTRY, "path": {"type": "path"}, "paths": {"type": "list", "elements": "path"},
                "mode": {"type": "str", "default": "0755"}},
                "mutually_exclusive": [["path", "paths"]], "required_one_of": [["path", "paths"]]},
            "files": {"type": "list", "elements": "dict", "default": [], "options": {
                **_ENTRY, "mode": {"type": "str", "default": "0644"}, "content": {"type": "str", "required": True},
                "validate": {"type": "str"}}},
            # the list is not secret, each content is
            "secret_files": {"type": "list", "elements": "dict", "default": [], "no_log": False, "options": {
                **_ENTRY, "mode": {"type": "str", "default": "0600"},
                "content": {"type": "str", "required": True, "no_log": True}, "validate": {"type": "str"}}},
            "links": {"type": "list", "elements": "dict", "default": [], "options": {
                "path": {"type": "path", "required": True}, "src": {"type": "str", "required": True}}},
            "prune": {"type": "list", "elements": "dict", "default": [], "options": {
                "path": {"type": "path", "required": True}, "keep": {"type": "int", "required": True},
                "protect": {"type": "list", "elements": "str", "default": []}}},
        },
        supports_check_mode=True,
    )
    for path in module.params["absent"]:
        if not os.path.isabs(path) or os.path.normpath(path) == "/":
            module.fail_json(msg=f"perch.cdn.files: absent {path!r}: the path must be absolute, and not /")
    one_each = [dict(d, path=path) for d in module.params["directories"]
                for path in ([d["path"]] if d["path"] else d["paths"])]
    directories = _checked(module, one_each, "directory")
    files = _checked(module, [dict(f, secret=False) for f in module.params["files"]], "file")
    files += _checked(module, [dict(f, secret=True) for f in module.params["secret_files"]], "secret file")
    result = {"changed_paths": [], "diff": []}
    for path in module.params["absent"]:
        _remove(module, os.path.normpath(path), result)
    for entry in directories:
        _directory(module, entry, result)
    for entry in files:
        _file(module, entry, result)
    for entry in module.params["links"]:
        _link(module, entry, result)
    for entry in module.params["prune"]:
        _prune(module, entry, result)
    result["changed"] = bool(result["changed_paths"])
    if not module._diff:
        del result["diff"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
