"""Turn a lookup Answer into the XML document mod_xml_curl expects (pure: values in, bytes out).

The document is written as text from fixed fragments, joined once and encoded once,
because building an lxml tree of ~60 elements per user and serialising it cost ~90 µs,
most of a cache-miss lookup. The bytes are exactly those lxml (libxml2) wrote, pinned by
golden files (tests/fixtures/golden/render/, written while an lxml oracle still checked
them): the same declaration, attributes in the
same order, an element without children as ``<x/>``, attribute values escaped as libxml2
escapes them (``_ESCAPES``) and everything else written as UTF-8.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from bridge.directory.lookup import Answer, Domain, Pairs, User

# harness_answers/not_found.xml, byte for byte: what FreeSWITCH reads as "no such entry".
NOT_FOUND = (
    b'<document type="freeswitch/xml"><section name="result">'
    b'<result status="not found"/></section></document>'
)

# Characters XML 1.0 cannot carry; lxml refused them, so they are dropped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# What libxml2 writes for these characters in a double-quoted attribute value, found by
# serialising every code point with lxml 6.0 / libxml2 2.14. Tab, newline and carriage
# return are references too, so attribute-value normalisation cannot turn them into
# spaces; everything else, ' and non-ASCII included, is written as it is.
_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}
)
# Every character clean() drops or _ESCAPES replaces, as one positive class: re searches
# that fastest, and nearly every value contains none of them.
_NEEDS_WORK = re.compile('[\x00-\x1f&<>"\ud800-\udfff\ufffe\uffff]')

_HEAD = (
    "<?xml version='1.0' encoding='UTF-8'?>\n<document type=\"freeswitch/xml\"><section name=\"directory\">"
)
_TAIL = "</section></document>"


def clean(value: str) -> str:
    """A value safe inside FreeSWITCH's XML.

    switch_xml_parse_file pre-processes the text and expands ``$${name}`` from its global
    variables before parsing, so a stored value could read a global (or break the
    document). Breaking the ``$${`` sequence keeps the value inert; ``${...}`` is left for
    FreeSWITCH's channel expansion, which our own dial-strings rely on.
    """
    # Dropped first: "$$\x01{" must not become "$${" after the check.
    value = _NOT_XML.sub("", value)
    return value.replace("$${", "$$ {") if "$${" in value else value


def render(answer: Answer) -> bytes:
    if not answer.found:
        return NOT_FOUND
    return "".join(fragments(answer)).encode()


def fragments(answer: Answer) -> Iterator[str]:
    """The text of a found answer's document, one user per fragment (after the first).

    whole.py joins a whole directory's fragments a slice at a time, giving the event
    loop back between slices.
    """
    yield _HEAD
    for domain in answer.domains:
        yield from _domain(domain)
    yield _TAIL


def _domain(domain: Domain) -> Iterator[str]:
    opening = f'<domain name="{_attr(domain.name)}"'
    if not (domain.params or domain.users or domain.groups):
        yield opening + "/>"  # lxml wrote an element without children as <x/>
        return
    yield opening + ">" + (_pairs("params", _PARAM, domain.params) if domain.params else "")
    if domain.users:
        yield "<users>"
        yield from map(_user, domain.users)
        yield "</users>"
    if domain.groups:
        yield "<groups>"
        for group in domain.groups:
            yield f'<group name="{_attr(group.name)}">'
            if group.users:
                yield "<users>"
                yield from map(_user, group.users)
                yield "</users>"
            else:
                yield "<users/>"
            yield "</group>"
        yield "</groups>"
    yield "</domain>"


def _user(user: User) -> str:
    cidr = f' cidr="{_attr(user.cidr)}"' if user.cidr else ""
    cacheable = f' cacheable="{_attr(user.cacheable)}"' if user.cacheable else ""
    params = _pairs("params", _PARAM, user.params)
    variables = _pairs("variables", _VARIABLE, user.variables) if user.variables else ""
    return f'<user id="{_attr(user.id)}"{cidr}{cacheable}>{params}{variables}</user>'


class _Openers(dict[str, str]):
    """``<param name="NAME" value="`` for each name, the name escaped once, on first use.

    Names come from code (flags.py, lookup.py), not from the database: a few dozen fixed
    strings, all safe today. Escaping each once keeps a future name made from data from
    breaking the document, without scanning ~40 names per user on every render (~3 µs).
    Past _MAX_NAMES (names from data, then) a name is escaped every time, not remembered.
    """

    def __init__(self, tag: str) -> None:
        super().__init__()
        self._tag = tag

    def __missing__(self, name: str) -> str:
        opener = f'<{self._tag} name="{_attr(name)}" value="'
        if len(self) < _MAX_NAMES:
            self[name] = opener
        return opener


_MAX_NAMES = 1000
_PARAM = _Openers("param")
_VARIABLE = _Openers("variable")


def _pairs(tag: str, openers: _Openers, pairs: Pairs) -> str:
    # One scan of all the values instead of one per value: nearly every value is clean.
    if _needs_work("".join([value for _, value in pairs])):
        items = [f'{openers[name]}{_attr(value)}"/>' for name, value in pairs]
    else:
        items = [f'{openers[name]}{value}"/>' for name, value in pairs]
    return _element(tag, "", "".join(items))


def _element(tag: str, attributes: str, content: str) -> str:
    # lxml wrote an element without children as <tag/>, never <tag></tag>.
    return f"<{tag}{attributes}>{content}</{tag}>" if content else f"<{tag}{attributes}/>"


def _attr(value: str) -> str:
    """``value`` cleaned and escaped as an attribute value."""
    if _needs_work(value):
        return clean(value).translate(_ESCAPES)
    return value


def _needs_work(text: str) -> bool:
    # A "$${" spanning two joined values only sends them through clean() needlessly.
    return "$${" in text or _NEEDS_WORK.search(text) is not None
