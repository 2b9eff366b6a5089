"""The provisioning routes (docs/provisioning.md), in the XUI document's paths.

``{id}`` is digits only, so /users/change_password, /users/delete and /extensions/download
never match it.
"""

from __future__ import annotations

from bridge.api import user_self
from bridge.api.edge import EdgeRoutes
from bridge.api.provision import extensions, import_users, users

ID = r"{id:\d{1,18}}"


def provision_routes(router: EdgeRoutes) -> None:
    router.add_post("/users", users.create_user)
    router.add_post("/users/create", users.create_user)
    router.add_post("/users/muti_add", users.muti_add)
    router.add_get("/users", users.list_users)
    router.add_put("/users", user_self.bulk_update)
    router.add_put("/users/", user_self.bulk_update)  # the document's own spelling
    router.add_post("/users/import", import_users.import_users)
    router.add_get("/users/info", user_self.info)
    router.add_get("/users/currentUser", user_self.current_user)
    router.add_get("/users/total", user_self.total)
    router.add_delete("/users", users.delete_users)
    router.add_post("/users/delete", users.delete_users)
    router.add_delete("/users/delete", users.delete_by_extn)
    router.add_put("/users/change_password", users.change_password)
    router.add_get(f"/users/{ID}", users.get_user)
    router.add_put(f"/users/{ID}", users.update_user)
    router.add_delete(f"/users/{ID}", users.delete_user)
    router.add_get(f"/users/{ID}/extensions", users.user_extensions)
    router.add_put(f"/users/{ID}/password", users.set_password)
    router.add_post("/extensions", extensions.create_extension)
    router.add_put("/extensions", extensions.bulk_set)
    router.add_post("/extensions/muti_add", extensions.muti_add)
    router.add_get("/extensions/download", extensions.download)
    router.add_put(f"/extensions/{ID}", extensions.update_extension)
    router.add_delete(f"/extensions/{ID}", extensions.delete_extension)
