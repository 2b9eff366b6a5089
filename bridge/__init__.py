"""bridge: FreeSWITCH directory (mod_xml_curl) and registration service over an XUI database."""

__version__ = "0.1.0"
