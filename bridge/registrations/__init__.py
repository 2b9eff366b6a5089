"""Registration tracking over the FreeSWITCH Event Socket."""
