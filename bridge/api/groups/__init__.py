"""XUI groups through the admin API ("分组管理"): management, member lists, their SQL and answers."""
