"""The hash formulas reproduce the XUI document's own example rows."""

from __future__ import annotations

import pytest

from bridge.hashes import ha1, ha1b, login_sha1


@pytest.mark.parametrize(
    ("extn", "domain", "password", "want_ha1", "want_ha1b"),
    [
        pytest.param(
            "100001",
            "xswitch.cn",
            "Lv1.rqdg6Un6ho4B",
            "342e2bf9f7b828814af3800ecf8ed73a",
            "f6947385ed54ae16d7738d1314c533bf",
            id="muti_add-100001",
        ),
        pytest.param(
            "100002",
            "xswitch.cn",
            "Lv1.rqdg6Un6ho4B",
            "42adeeb1dc2b16ad2d9846b93beb18a3",
            "4b8bbfb59bcff8d3a80de2bb533812c9",
            id="muti_add-100002",
        ),
        pytest.param(
            "47789451001",
            "xswitch.cn",
            "XSwitch.cn/6753997",
            "dc093f09ebeb9a37283f22956e1d5b5e",
            "fe25bae9818d72a995af21faef3a3cae",
            id="create-47789451001",
        ),
    ],
)
def test_extension_hashes_match_xui_examples(
    extn: str, domain: str, password: str, want_ha1: str, want_ha1b: str
) -> None:
    assert ha1(extn, domain, password) == want_ha1
    assert ha1b(extn, domain, password) == want_ha1b


def test_capture_harness_hashes_match_what_freeswitch_accepted() -> None:
    # harness_answers/sip_auth_1001_ha1.xml and ..._at_domain_ha1b.xml were accepted.
    assert ha1("1001", "xswitch.test", "Test1234pw") == "5444ffaf6667085fd295fcd8d12e50ae"
    assert ha1b("1001", "xswitch.test", "Test1234pw") == "ce1ffd2ea1e5cefa2fe02746ae0e9929"


@pytest.mark.parametrize(
    ("login", "password", "salt", "want"),
    [
        ("user001", "123!@#QWEqwe", "$1$x8DADcaA", "42d68f5f4d5dbf62b0173ae44251e1373e06cc8e"),
        ("admin", "XSwitch.cn/6753997", "$1$p0htFRHX", "c329e666b2ba4840f7d0c798ad7e9a4a43e98371"),
    ],
    ids=["import-user001", "default-admin"],
)
def test_login_sha1_matches_xui_examples(login: str, password: str, salt: str, want: str) -> None:
    assert login_sha1(login, password, salt).hex() == want
