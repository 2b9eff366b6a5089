"""What each XUI extension column becomes in a directory answer, held as data.

Every rule names the XUI column, what XUI means by it, and a function from the
extension to the FreeSWITCH ``<param>``s and ``<variable>``s it turns into. Where
FreeSWITCH has its own name the rule uses it (sources cited per rule); the raw XUI value
is always kept too, as ``xui_<column>``, so a dialplan can act on what FreeSWITCH cannot.
docs/directory.md carries ``markdown_table()`` verbatim (tests/directory/test_flags.py keeps them equal).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter

from bridge.directory.extension import Extension

Pairs = tuple[tuple[str, str], ...]
NONE: Pairs = ()


def _no_pairs(_e: Extension) -> Pairs:
    """The default rule: gives nothing (rules left at it are skipped when answering)."""
    return NONE


@dataclass(frozen=True, slots=True)
class FlagRule:
    column: str
    meaning: str
    # What FreeSWITCH (or the dialplan) acts on, in words, for the docs/directory.md table.
    becomes: str
    variables: Callable[[Extension], Pairs] = _no_pairs
    params: Callable[[Extension], Pairs] = _no_pairs
    # Keep the raw value as variable xui_<column> (columns that are plain text already
    # visible elsewhere, or secrets, set this False).
    keep_raw: bool = True


# call_authority 0..4 (XUI: emergency, on-net, local, national, international) as the
# vanilla dialplan's toll_allow words (conf/vanilla/dialplan/default.xml tests ${toll_allow}).
TOLL_ALLOW = {
    0: "emergency",
    1: "emergency,internal",
    2: "emergency,internal,local",
    3: "emergency,internal,local,domestic",
    4: "emergency,internal,local,domestic,international",
}

# dtmf_type 1/3: switch_core_media.c reads the channel variable dtmf_type (info|rfc2833|none).
# 2 (inband): no endpoint setting detects inband DTMF; mod_dptools' start_dtmf does, run on
# answer through the execute_on_answer_* prefix (switch_channel.c matches the prefix).
DTMF = {
    1: (("dtmf_type", "info"),),
    2: (("dtmf_type", "none"), ("execute_on_answer_xui_dtmf", "start_dtmf")),
    3: (("dtmf_type", "rfc2833"),),
}

RECORD_PATH = "record_session ${recordings_dir}/${strftime(%Y-%m-%d)}/${uuid}.wav"


def _positive(text: str) -> str:
    value = text.strip()
    return value if value.isdigit() and int(value) > 0 else ""


def _timeout(e: Extension) -> Pairs:
    seconds = _positive(e.timeout)
    return (("call_timeout", seconds), ("leg_timeout", seconds)) if seconds else NONE


def _ringback(e: Extension) -> Pairs:
    if e.enable_ringback and e.ringback.strip():
        return (("ringback", e.ringback.strip()), ("transfer_ringback", e.ringback.strip()))
    return NONE


def _callgroup(e: Extension) -> Pairs:
    return (("callgroup", e.group_name),) if e.intercept and e.group_name else NONE


def _cidr(e: Extension) -> Pairs:
    return (("auth-acl", e.extn_cidr.replace(" ", "")),) if e.extn_cidr.strip() else NONE


def _voicemail(e: Extension) -> Pairs:
    return (("vm-enabled", "true" if e.voicemail else "false"),)


FLAGS: tuple[FlagRule, ...] = (
    FlagRule(
        "context",
        "呼叫源: the dialplan context",
        "variable `user_context` (sofia routes the caller's calls there; empty: `default`)",
        variables=lambda e: (("user_context", e.context or "default"),),
        keep_raw=False,
    ),
    FlagRule(
        "cid_name",
        "主叫名称",
        "variable `effective_caller_id_name` (empty: the extension's name, else its number)",
        variables=lambda e: (("effective_caller_id_name", e.cid_name or e.name or e.extn),),
        keep_raw=False,
    ),
    FlagRule(
        "cid_number",
        "主叫号码",
        "variable `effective_caller_id_number` (empty: the extension number)",
        variables=lambda e: (("effective_caller_id_number", e.cid_number or e.extn),),
        keep_raw=False,
    ),
    FlagRule(
        "call_authority",
        "呼叫权限 0 emergency … 4 international",
        "variable `toll_allow` as the vanilla dialplan spells it (0 `emergency` … 4 adds `international`)",
        variables=lambda e: (("toll_allow", TOLL_ALLOW.get(e.call_authority, TOLL_ALLOW[4])),),
    ),
    FlagRule(
        "call_limit",
        "呼出权限 0 no outgoing calls",
        "`xui_call_limit` only: FreeSWITCH has no per-user switch; the dialplan refuses when 0",
    ),
    FlagRule(
        "called_limit",
        "呼入权限 0 no incoming calls",
        "user_call answers `dial-string` `error/CALL_REJECTED`, so `user/…` fails at once",
    ),
    FlagRule(
        "extn_cidr",
        "CIDR the phone must come from",
        "sip_auth param `auth-acl` (sofia_reg.c refuses other addresses); network-list "
        "`<user cidr=…>` only with `directory.trust_extn_cidr` (a grant, not a restriction)",
        params=_cidr,
    ),
    FlagRule(
        "dtmf_type",
        "DTMF 0 unset, 1 info, 2 inband, 3 rfc2833",
        "variable `dtmf_type` `info`/`rfc2833` (switch_core_media.c); 2: `dtmf_type=none` and "
        "`execute_on_answer_xui_dtmf=start_dtmf`",
        variables=lambda e: DTMF.get(e.dtmf_type, NONE),
    ),
    FlagRule(
        "enable_srtp",
        "SRTP 1 on",
        "variable `rtp_secure_media=true` (switch_core_media.c)",
        variables=lambda e: (("rtp_secure_media", "true"),) if e.enable_srtp else NONE,
    ),
    FlagRule(
        "enable_t38",
        "T.38 1 on",
        "variables `fax_enable_t38=true` and `t38_passthru=true` (switch_core_media.c)",
        variables=lambda e: (("fax_enable_t38", "true"), ("t38_passthru", "true")) if e.enable_t38 else NONE,
    ),
    FlagRule(
        "codec",
        "编码, e.g. PCMA,PCMU",
        "variable `absolute_codec_string`",
        variables=lambda e: (
            (("absolute_codec_string", e.codec.replace(" ", "")),) if e.codec.strip() else NONE
        ),
        keep_raw=False,
    ),
    FlagRule(
        "auto_record",
        "录音 1 record",
        f"variable `execute_on_answer_xui_record={RECORD_PATH}`",
        variables=lambda e: (("execute_on_answer_xui_record", RECORD_PATH),) if e.auto_record else NONE,
    ),
    FlagRule(
        "voicemail",
        "语音邮箱 1 on",
        "param `vm-enabled` true/false (mod_voicemail.c)",
        params=_voicemail,
    ),
    FlagRule(
        "vm_password",
        "语音邮箱密码",
        "param `vm-password`, only in voicemail-lookup / message-count answers",
        keep_raw=False,
    ),
    FlagRule(
        "caller_display",
        "来电显示 0 hide the caller from this phone",
        "user_call variable `origination_privacy=hide_name:hide_number` (switch_ivr_originate.c)",
    ),
    FlagRule(
        "intercept",
        "代答 0 none, 1 group, 2 global",
        "variable `callgroup` = group_name when 1 or 2 (the vanilla `intercept` extension reads it)",
        variables=_callgroup,
    ),
    FlagRule("group_name", "组代答组名", "`callgroup` (above) and group_call membership"),
    FlagRule("intercepted", "被代答 0 none, 1 group, 2 global", "`xui_intercepted` for the dialplan"),
    FlagRule("intercepted_group_name", "被代答组名", "`xui_intercepted_group_name` for the dialplan"),
    FlagRule(
        "timeout",
        "超时时长 (seconds)",
        "variables `call_timeout` and `leg_timeout` when a positive number",
        variables=_timeout,
    ),
    FlagRule(
        "ringback",
        "彩铃 (with enable_ringback=1)",
        "variables `ringback` and `transfer_ringback`",
        variables=_ringback,
    ),
    FlagRule("enable_ringback", "彩铃开关", "gates `ringback` (above)"),
    FlagRule("force_insert", "强插 (may barge in)", "`xui_force_insert` for the dialplan"),
    FlagRule("force_breakdown", "强拆 (may tear down)", "`xui_force_breakdown` for the dialplan"),
    FlagRule("eavesdrop", "监听 (may listen)", "`xui_eavesdrop` for the dialplan"),
    FlagRule("forced_insert", "被强插 (may be barged)", "`xui_forced_insert` for the dialplan"),
    FlagRule("forced_breakdown", "被强拆", "`xui_forced_breakdown` for the dialplan"),
    FlagRule("eavesdropped", "被监听", "`xui_eavesdropped` for the dialplan"),
    FlagRule("call_transfer_type", "呼叫转接类型 0..4", "`xui_call_transfer_type` for the dialplan"),
    FlagRule("enable_cb_onbusy", "遇忙回呼", "`xui_enable_cb_onbusy` for the dialplan"),
    FlagRule("enable_hotline", "热线开关", "`xui_enable_hotline` for the dialplan"),
    FlagRule("hotline_number", "热线号码", "`xui_hotline_number` for the dialplan"),
    FlagRule("hotline_type", "热线设备类型", "`xui_hotline_type` for the dialplan"),
    FlagRule("hotline_address", "热线设备地址", "`xui_hotline_address` for the dialplan"),
    FlagRule("boss_extn", "老板分机", "`xui_boss_extn` (true/false) for the dialplan"),
    FlagRule("secretary_extn", "秘书分机", "`xui_secretary_extn` for the dialplan"),
    FlagRule("priority", "优先级", "`xui_priority` for the dialplan"),
    FlagRule(
        "enable_extn_time_recurrences",
        "被叫时间管理",
        "`xui_enable_extn_time_recurrences` for the dialplan",
    ),
    FlagRule(
        "type",
        "SIP, WebRTC, … (分机类型)",
        "the user's `dial-string` (see the dial-string table)",
        keep_raw=True,
    ),
)


def raw_value(e: Extension, column: str) -> str:
    return _raw_text(getattr(e, column))


# The rules read on every answer, resolved once: only those that give something, and the
# raw columns in one C-level attrgetter call (a cache-miss lookup runs these per user).
_VARIABLE_RULES = tuple(rule.variables for rule in FLAGS if rule.variables is not _no_pairs)
_PARAM_RULES = tuple(rule.params for rule in FLAGS if rule.params is not _no_pairs)
_RAW_NAMES = tuple(f"xui_{rule.column}" for rule in FLAGS if rule.keep_raw)
_raw_values = attrgetter(*(rule.column for rule in FLAGS if rule.keep_raw))


def _raw_text(value: object) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


def extension_variables(e: Extension) -> Pairs:
    """Every variable the flags give this extension, FreeSWITCH's names first, raw xui_* last."""
    out: list[tuple[str, str]] = []
    for variables in _VARIABLE_RULES:
        out.extend(variables(e))
    out.extend(zip(_RAW_NAMES, map(_raw_text, _raw_values(e)), strict=True))
    return tuple(out)


def extension_params(e: Extension) -> Pairs:
    out: list[tuple[str, str]] = []
    for params in _PARAM_RULES:
        out.extend(params(e))
    return tuple(out)


def markdown_table() -> str:
    lines = ["| XUI column | XUI meaning | in the directory answer |", "|---|---|---|"]
    for rule in FLAGS:
        raw = " (+ `xui_" + rule.column + "`)" if rule.keep_raw and "xui_" not in rule.becomes else ""
        lines.append(f"| `{rule.column}` | {rule.meaning} | {rule.becomes}{raw} |")
    return "\n".join(lines) + "\n"


# The user's dial-string by extension type (mod_dptools' user/ endpoint dials it with
# dialed_user/dialed_domain set). SIP phones register with sofia; a browser reaches
# FreeSWITCH either over sofia's WSS transport (sofia_contact finds that registration
# too) or through mod_verto, so WebRTC types ring both. A comma rings the legs at once;
# the one not registered answers error/user_not_registered and only that leg fails.
SOFIA_DIAL = (
    "{^^:sip_invite_domain=${dialed_domain}:presence_id=${dialed_user}@${dialed_domain}}"
    "${sofia_contact(*/${dialed_user}@${dialed_domain})}"
)
VERTO_DIAL = "${verto_contact(${dialed_user}@${dialed_domain})}"
WEBRTC_DIAL = f"{SOFIA_DIAL},{VERTO_DIAL}"
REJECTED_DIAL = "error/CALL_REJECTED"


def dial_string(e: Extension) -> str:
    if not e.called_limit:
        return REJECTED_DIAL
    return WEBRTC_DIAL if "webrtc" in e.type.lower() else SOFIA_DIAL
