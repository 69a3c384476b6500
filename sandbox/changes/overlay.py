"""How overlayfs marks things in an upper directory.

- a whiteout (a deleted lower entry) is a character device 0/0;
- an opaque directory (one that hides everything below it in lower layers, left behind by
  `rm -r d; mkdir d`) carries the xattr `overlay.opaque` = "y", in the `trusted.` namespace for a
  privileged mount and in `user.` for an unprivileged one (`userxattr`);
- `overlay.redirect` (renamed dirs) and `overlay.metacopy` (metadata-only copy-up) would make the
  upper dir meaningless without the lower one; the engine mounts with redirect_dir=off,
  metacopy=off, so finding them means the layer did not come from sbx's mount.
"""

from __future__ import annotations

import errno
import os
import stat

OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
FORBIDDEN_XATTRS = (
    "trusted.overlay.redirect",
    "user.overlay.redirect",
    "trusted.overlay.metacopy",
    "user.overlay.metacopy",
    # A tool that sets one of the above through an unprivileged (`userxattr`) mount leaves it
    # escaped in the upper (Linux >= 6.7): inert for overlayfs, refused here all the same, so a
    # layer means the same whichever mode made it.
    "user.overlay.overlay.redirect",
    "user.overlay.overlay.metacopy",
)
_ABSENT_XATTR_ERRNOS = (errno.ENODATA, errno.ENOTSUP, errno.EPERM, errno.EACCES)


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(real_path: str) -> bool:
    return any(_read_xattr(real_path, name) == b"y" for name in OPAQUE_XATTRS)


def forbidden_xattr(real_path: str) -> str | None:
    """The name of a redirect/metacopy xattr on this entry, if it has one."""
    for name in FORBIDDEN_XATTRS:
        if _read_xattr(real_path, name) is not None:
            return name
    return None


def _read_xattr(real_path: str, name: str) -> bytes | None:
    try:
        return os.getxattr(real_path, name, follow_symlinks=False)
    except OSError as exc:
        # Unprivileged readers cannot see trusted.*; filesystems without xattrs say ENOTSUP.
        if exc.errno in _ABSENT_XATTR_ERRNOS:
            return None
        raise
