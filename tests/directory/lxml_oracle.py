"""The lxml renderer of bridge/directory/render.py before it wrote strings: the oracle its
output must equal byte for byte (tests/directory/test_render.py). Kept verbatim but for
clean(), whose rule is ours, not lxml's (it now drops unsafe characters before breaking
"$${", in both)."""

from __future__ import annotations

import re

from lxml import etree

from bridge.directory.lookup import Answer, Domain, Pairs, User

# harness_answers/not_found.xml, byte for byte: what FreeSWITCH reads as "no such entry".
NOT_FOUND = (
    b'<document type="freeswitch/xml"><section name="result">'
    b'<result status="not found"/></section></document>'
)

# Characters XML 1.0 cannot carry; lxml refuses them, so they are dropped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


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
    document = etree.Element("document", type="freeswitch/xml")
    section = etree.SubElement(document, "section", name="directory")
    for domain in answer.domains:
        _domain(section, domain)
    return etree.tostring(document, encoding="UTF-8", xml_declaration=True)


def _domain(parent: etree._Element, domain: Domain) -> None:
    node = etree.SubElement(parent, "domain", name=clean(domain.name))
    if domain.params:
        _pairs(node, "params", "param", domain.params)
    if domain.users:
        users = etree.SubElement(node, "users")
        for user in domain.users:
            _user(users, user)
    if domain.groups:
        groups = etree.SubElement(node, "groups")
        for group in domain.groups:
            group_node = etree.SubElement(groups, "group", name=clean(group.name))
            users = etree.SubElement(group_node, "users")
            for user in group.users:
                _user(users, user)


def _user(parent: etree._Element, user: User) -> None:
    node = etree.SubElement(parent, "user", id=clean(user.id))
    if user.cidr:
        node.set("cidr", clean(user.cidr))
    if user.cacheable:
        node.set("cacheable", clean(user.cacheable))
    _pairs(node, "params", "param", user.params)
    if user.variables:
        _pairs(node, "variables", "variable", user.variables)


def _pairs(parent: etree._Element, outer: str, inner: str, pairs: Pairs) -> None:
    holder = etree.SubElement(parent, outer)
    # One scan of all the values instead of one per value: nearly every value is clean.
    if _needs_cleaning("".join(value for _, value in pairs)):
        for name, value in pairs:
            etree.SubElement(holder, inner, name=name, value=clean(value))
    else:
        for name, value in pairs:
            etree.SubElement(holder, inner, name=name, value=value)


def _needs_cleaning(text: str) -> bool:
    # Anything unsafe in one value is in the join too (a "$${" spanning two values only
    # sends them through clean() needlessly).
    return "$${" in text or _NOT_XML.search(text) is not None
