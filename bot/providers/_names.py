"""Name shapes more than one provider checks: domain names.

Labels as in RFC 1035 (letters, digits, inner hyphens, at most 63); the last label is a
TLD of letters or an IDNA `xn--` label, so `1.2.3.4` or `example.-x` are not domains.
"""

from __future__ import annotations

import re

DOMAIN = re.compile(
    r"^(?=.{1,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{0,58}[a-z0-9])\Z",
    re.IGNORECASE,
)
