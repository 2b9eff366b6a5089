"""XUI provisioning through the admin API: users, extensions, the user import, their routes and answers."""
