"""Write a development `.env` (DEBUG on, freshly generated secrets) unless the file exists.

`make run` calls this, so every `manage.py` command works on a fresh clone without extra
variables. Never use this file in production: see `.env.example`."""

import base64
import secrets
import sys
from pathlib import Path

TEMPLATE = """\
# Written by `make` (scripts/dev_env.py) for local development; .env.example lists every variable.
# Never use these values in production.
DEBUG=true
SECRET_KEY={secret_key}
FIELD_ENCRYPTION_KEYS={fernet_key}
# NATIVE sender accounts send to the local mail catcher that `make run` starts: with DEBUG,
# EMAIL_URL defaults to smtp://MAIL_CATCHER_HOST:MAIL_CATCHER_PORT (127.0.0.1:1025; no TLS, no
# AUTH), and the admin shows what it caught under Mail catcher. A real relay instead, e.g.:
# EMAIL_URL=smtp+tls://user:password@relay.example.com:587
"""


def main(path: Path) -> int:
    if path.exists():
        return 0
    text = TEMPLATE.format(
        secret_key=secrets.token_urlsafe(50),
        fernet_key=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    )
    with path.open("x", encoding="utf-8") as env_file:
        env_file.write(text)
    path.chmod(0o600)
    print(f"Wrote a development {path} (DEBUG=true, generated secrets).", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".env")))
