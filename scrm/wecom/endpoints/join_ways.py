"""Group join ways (加入群聊 / 群活码, WECOM.md §6.3)."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ArgumentError
from .base import EndpointsBase, Json, require

JOIN_WAY_MAX_CHATS = 5


def _join_way_body(
    api: str,
    *,
    scene: int,
    chat_id_list: Sequence[str],
    remark: str,
    auto_create_room: bool,
    room_base_name: str,
    room_base_id: int | None,
    state: str,
) -> Json:
    if scene not in (1, 2):
        raise ArgumentError(None, "scene is 1 (mini-program plugin) or 2 (QR code)", api)
    if not chat_id_list or len(chat_id_list) > JOIN_WAY_MAX_CHATS:
        raise ArgumentError(None, f"chat_id_list holds 1 to {JOIN_WAY_MAX_CHATS} groups", api)
    if len(room_base_name) > 40:
        raise ArgumentError(None, "room_base_name is at most 40 characters", api)
    if len(state) > 30:
        raise ArgumentError(None, "state is at most 30 characters", api)
    if room_base_id is not None and room_base_id < 0:
        raise ArgumentError(None, "room_base_id must not be negative", api)
    body: Json = {
        "scene": scene,
        "remark": remark[:30],  # WeCom cuts it at 30 characters anyway
        "auto_create_room": int(auto_create_room),
        "chat_id_list": list(chat_id_list),
    }
    if room_base_name:
        body["room_base_name"] = room_base_name
    if room_base_id is not None:
        body["room_base_id"] = room_base_id
    if state:
        body["state"] = state
    return body


class JoinWaysApi(EndpointsBase):
    # --- group join ways (WECOM.md §6.3) -----------------------------------------------------------

    def add_join_way(
        self,
        *,
        scene: int,
        chat_id_list: Sequence[str],
        remark: str = "",
        auto_create_room: bool = True,
        room_base_name: str = "",
        room_base_id: int | None = None,
        state: str = "",
    ) -> str:
        """``externalcontact/groupchat/add_join_way``: a group code over up to 5 groups; when they
        are full and ``auto_create_room``, WeCom opens ``room_base_name`` + number groups.

        ``state`` comes back per member in ``groupchat/get``. Returns the ``config_id``. Counts
        against the 500 000 quota shared with contact ways.
        """
        api = "externalcontact/groupchat/add_join_way"
        body = _join_way_body(
            api,
            scene=scene,
            chat_id_list=chat_id_list,
            remark=remark,
            auto_create_room=auto_create_room,
            room_base_name=room_base_name,
            room_base_id=room_base_id,
            state=state,
        )
        return self._post(api, body)["config_id"]

    def get_join_way(self, config_id: str) -> Json:
        """``externalcontact/groupchat/get_join_way``: ``{config_id, scene, remark,
        auto_create_room, room_base_name, room_base_id, chat_id_list, qr_code?, state}``."""
        api = "externalcontact/groupchat/get_join_way"
        require(config_id, "config_id", api)
        return self._post(api, {"config_id": config_id})["join_way"]

    def update_join_way(
        self,
        config_id: str,
        *,
        scene: int,
        chat_id_list: Sequence[str],
        remark: str = "",
        auto_create_room: bool = True,
        room_base_name: str = "",
        room_base_id: int | None = None,
        state: str = "",
    ) -> None:
        """``externalcontact/groupchat/update_join_way``: WeCom overwrites the whole configuration,
        so every field is sent (what is left out goes back to its default)."""
        api = "externalcontact/groupchat/update_join_way"
        require(config_id, "config_id", api)
        body = _join_way_body(
            api,
            scene=scene,
            chat_id_list=chat_id_list,
            remark=remark,
            auto_create_room=auto_create_room,
            room_base_name=room_base_name,
            room_base_id=room_base_id,
            state=state,
        )
        self._post(api, {"config_id": config_id, **body})

    def del_join_way(self, config_id: str) -> None:
        """``externalcontact/groupchat/del_join_way``."""
        api = "externalcontact/groupchat/del_join_way"
        require(config_id, "config_id", api)
        self._post(api, {"config_id": config_id})
