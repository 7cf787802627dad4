"""``python -m vendors.sandbox [--port N]``: serve the sandbox in the foreground."""

from __future__ import annotations

import argparse

from vendors.sandbox import Sandbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args()
    sandbox = Sandbox(host=args.host, port=args.port)
    for vendor in Sandbox.MOUNTS:
        print(f"{vendor:10} {sandbox.base_url(vendor)}", flush=True)
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
