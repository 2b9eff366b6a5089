"""The mod_xml_curl directory endpoint."""
