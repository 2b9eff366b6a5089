"""The yardstick: a bare aiohttp server that reads the form and answers a constant 2.5 KB document.

python bench/directory_bare.py PORT
"""

from __future__ import annotations

import sys

from aiohttp import web

BODY = (
    '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n<document type="freeswitch/xml">'
    + "<!--"
    + "x" * 2400
    + "-->"
    + "</document>\n"
).encode()


async def handle(request: web.Request) -> web.Response:
    await request.post()
    return web.Response(body=BODY, content_type="text/xml")


def main() -> None:
    app = web.Application()
    app.router.add_post("/directory", handle)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
