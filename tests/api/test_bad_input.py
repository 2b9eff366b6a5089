"""Hostile or malformed admin-API requests get a 4xx in the XUI error shape, never a 500."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import asyncpg
import pytest

from tests.api.conftest import Api, StartApi
from tests.api.helpers import ADMIN_PASSWORD, add_admin, auth, login
from tests.support.metrics import app_sample


def _is_xui_error(body: object, status: int) -> bool:
    return isinstance(body, dict) and body.get("code") == status and isinstance(body.get("text"), str)


def _multipart(fields: dict[str, str]) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)  # add_field with quote_fields: a multipart/form-data body
    return form


async def test_a_multipart_login_is_read_like_a_form(api: Api) -> None:
    form = aiohttp.FormData({"login": "admin", "password": ADMIN_PASSWORD}, default_to_multipart=True)
    response = await api.client.post("/api/sessions", data=form)
    assert response.content_type == "application/json"
    body = await response.json()
    assert response.status == 200, body
    assert body["code"] == 200 and body["token"]


async def test_a_multipart_dev_key_request_gets_an_answer_not_a_500(api: Api) -> None:
    form = aiohttp.FormData(
        {"username": "1001", "password": "wrong", "domain": "xswitch.test"}, default_to_multipart=True
    )
    response = await api.client.post("/api/users/dev_keys", data=form)
    assert response.status == 403
    assert _is_xui_error(await response.json(), 403)


async def test_a_multipart_file_in_place_of_the_password_is_406(api: Api) -> None:
    form = aiohttp.FormData()
    form.add_field("login", "admin")
    form.add_field("password", b"secret", filename="p.txt", content_type="text/plain")
    response = await api.client.post("/api/sessions", data=form)
    assert response.status == 406
    assert _is_xui_error(await response.json(), 406)


async def test_json_nested_20000_deep_is_400(api: Api) -> None:
    body = "[" * 20_000 + "]" * 20_000
    for path in ("/api/sessions", "/api/users/dev_keys"):
        response = await api.client.post(path, data=body, headers={"Content-Type": "application/json"})
        assert response.status == 400, path
        assert _is_xui_error(await response.json(), 400)


@pytest.mark.parametrize("page", ["18446744073709551616", str(10**23)], ids=["2^64", "10^23"])
async def test_a_huge_page_number_is_400(api: Api, page: str) -> None:
    response = await api.client.get("/api/extensions", params={"page": page}, headers=auth(api.token))
    body = await response.json()
    assert response.status == 400, body
    assert _is_xui_error(body, 400) and "page" in body["text"]


async def test_a_huge_page_size_is_400(api: Api) -> None:
    response = await api.client.get(
        "/api/extensions", params={"page_size": str(10**23)}, headers=auth(api.token)
    )
    body = await response.json()
    assert response.status == 400, body
    assert _is_xui_error(body, 400) and "page_size" in body["text"]


async def test_deleting_a_dev_key_with_a_huge_id_is_4xx(api: Api) -> None:
    response = await api.client.delete(
        "/api/users/dev_keys", params={"id": "99999999999999999999"}, headers=auth(api.token)
    )
    body = await response.json()
    assert response.status == 400, body
    assert _is_xui_error(body, response.status)


async def _raw(api: Api, request: bytes) -> tuple[int, dict[str, str], bytes]:
    server = api.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, body
    finally:
        writer.close()


@pytest.mark.parametrize(
    "target",
    [b"/api/extensions?name=\xff\xfe", b"/api/ext\xc3\xa9nsions", b"/api/users/list?extn=10\x80"],
    ids=["query", "path-utf8", "query-latin1"],
)
async def test_raw_non_ascii_bytes_in_the_url_get_aiohttps_400_and_the_api_goes_on(
    api: Api, target: bytes
) -> None:
    # aiohttp's parser refuses them before any route: its own text/plain 400
    # (docs/directory-hardening.md, "Requests the HTTP parser refuses").
    request = (
        b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nX-XTRA-AUTH-ID: " + api.token.encode() + b"\r\n\r\n"
    )
    status, headers, _ = await _raw(api, request)
    assert status == 400
    assert headers["content-type"].startswith("text/plain")
    assert (await api.client.get("/healthz")).status == 200


# ---- a body dripped slower than http.body_timeout ----------------------------------------

SLOW_BODIES = [
    pytest.param(
        "/api/sessions", "application/x-www-form-urlencoded", b"login=admin&password=", id="login-form"
    ),
    pytest.param(
        "/api/sessions",
        "multipart/form-data; boundary=b",
        b'--b\r\nContent-Disposition: form-data; name="lo',
        id="login-multipart",
    ),
    pytest.param(
        "/api/extensions", "application/json", b'{"extn": "1009", "domain": "xsw', id="provision-json"
    ),
]


@pytest.mark.parametrize(("path", "content_type", "start"), SLOW_BODIES)
async def test_given_a_client_dripping_its_body_then_408_in_the_json_shape_and_others_are_served(
    conn: asyncpg.Connection, start_api: StartApi, path: str, content_type: str, start: bytes
) -> None:
    await add_admin(conn)
    client = await start_api(http__body_timeout="0.3")
    token = await login(client)
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nX-XTRA-AUTH-ID: {token}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: 1000\r\n\r\n".encode()
        + start
    )

    async def drip() -> bytes:
        """One byte every 50 ms (the body would take ~50 s) until the server answers and cuts."""
        received = b""
        for _ in range(200):
            try:
                chunk = await asyncio.wait_for(reader.read(4096), 0.05)
            except TimeoutError:
                writer.write(b"x")
                continue
            except ConnectionError:
                break
            if not chunk:
                break
            received += chunk
        return received

    dripping = asyncio.create_task(drip())
    # Meanwhile other requests are served.
    served = await client.get("/api/users/list", headers=auth(token))
    assert served.status == 200 and not dripping.done()
    answer = await asyncio.wait_for(dripping, 10)
    writer.close()

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer
    assert b"application/json" in head
    document = json.loads(body)
    assert _is_xui_error(document, 408) and document["text"] == "body not received within 0.3s"
    assert app_sample(client.app, "bridge_api_requests_total", route=path, status="408") == 1
