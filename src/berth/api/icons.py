"""Swagger tag `icon`: GET /icons/{digest}, the artifact-type icons the artifact API names in `icon`.

As in Harbor, any caller may read them (anonymous too): they are the same pictures for everyone.
"""

from __future__ import annotations

import base64

from fastapi import APIRouter

from berth.api import schemas
from berth.icons import find_icon
from berth.references import InvalidDigest, parse_digest
from berth.services.errors import BadRequest, NotFound

router = APIRouter(tags=["icon"])


@router.get("/icons/{digest}", operation_id="getIcon", response_model=schemas.Icon, response_model_by_alias=True)
async def get_icon(digest: str) -> schemas.Icon:
    """The icon as Harbor answers it: its content type and its bytes in base64."""
    try:
        parse_digest(digest)
    except InvalidDigest:
        raise BadRequest(f"invalid digest: {digest[:200]}") from None
    icon = find_icon(digest)
    if icon is None:
        raise NotFound(f"the icon {digest} not found")
    return schemas.Icon(content_type=icon.content_type, content=base64.b64encode(icon.content).decode())
