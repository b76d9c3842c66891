"""Corp tags and ``mark_tag`` (WECOM.md §4)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import ArgumentError
from .base import EndpointsBase, Json, check_name, require


class TagsApi(EndpointsBase):
    # --- corp tags (WECOM.md §4) -------------------------------------------------------------------

    def get_corp_tag_list(
        self, tag_id: Iterable[str] | None = None, group_id: Iterable[str] | None = None
    ) -> list[Json]:
        """``externalcontact/get_corp_tag_list``: tag groups ``{group_id, group_name, order,
        create_time, deleted, tag: [{id, name, order, create_time, deleted}]}``; all when no filter."""
        body: Json = {}
        if tag_id:
            body["tag_id"] = list(tag_id)
        if group_id:
            body["group_id"] = list(group_id)
        return self._post("externalcontact/get_corp_tag_list", body).get("tag_group", [])

    def add_corp_tag(
        self,
        tags: Sequence[Mapping[str, Any]],
        *,
        group_id: str | None = None,
        group_name: str | None = None,
        order: int | None = None,
    ) -> Json:
        """``externalcontact/add_corp_tag``: add ``tags`` (``{name, order?}``) to a group by id or
        name (created when new). Returns the ``tag_group`` with the new tags' ids."""
        api = "externalcontact/add_corp_tag"
        if not tags:
            raise ArgumentError(None, "at least one tag is required (empty groups cannot exist)", api)
        if not group_id and not group_name:
            raise ArgumentError(None, "group_id or group_name is required", api)
        for tag in tags:
            check_name(tag.get("name", ""), "tag name", api)
        body: Json = {"tag": [dict(t) for t in tags]}
        if group_id:
            body["group_id"] = group_id
        else:
            check_name(group_name or "", "group_name", api)
            body["group_name"] = group_name
            if order is not None:
                body["order"] = order
        return self._post(api, body)["tag_group"]

    def edit_corp_tag(self, id: str, *, name: str | None = None, order: int | None = None) -> None:
        """``externalcontact/edit_corp_tag``: rename or reorder a tag or a tag group."""
        api = "externalcontact/edit_corp_tag"
        require(id, "id", api)
        body: Json = {"id": id}
        if name is not None:
            check_name(name, "name", api)
            body["name"] = name
        if order is not None:
            body["order"] = order
        self._post(api, body)

    def del_corp_tag(self, tag_id: Iterable[str] = (), group_id: Iterable[str] = ()) -> None:
        """``externalcontact/del_corp_tag``: delete tags and/or whole groups."""
        tag_ids, group_ids = list(tag_id), list(group_id)
        if not tag_ids and not group_ids:
            raise ArgumentError(None, "tag_id or group_id is required", "externalcontact/del_corp_tag")
        self._post("externalcontact/del_corp_tag", {"tag_id": tag_ids, "group_id": group_ids})

    def mark_tag(
        self, userid: str, external_userid: str, add_tag: Iterable[str] = (), remove_tag: Iterable[str] = ()
    ) -> None:
        """``externalcontact/mark_tag``: add and remove corp tags on one member-customer pair."""
        api = "externalcontact/mark_tag"
        require(userid, "userid", api)
        require(external_userid, "external_userid", api)
        add, remove = list(add_tag), list(remove_tag)
        if not add and not remove:
            raise ArgumentError(None, "add_tag or remove_tag is required", api)
        if len(add) > 3000 or len(remove) > 3000:
            raise ArgumentError(None, "at most 3000 tags per call", api)
        self._post(
            api, {"userid": userid, "external_userid": external_userid, "add_tag": add, "remove_tag": remove}
        )
