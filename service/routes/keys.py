"""API keys over HTTP (admin only); ``civility keys create`` does the same offline."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy import select

from service import db
from service.auth import KeyRequestError, create_key, revoke_key
from service.deps import AdminKey, SessionDep
from service.schemas import KeyCreate, KeyOut

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.post("", response_model=KeyOut, status_code=201)
def create(body: KeyCreate, admin: AdminKey, session: SessionDep) -> KeyOut:
    """Create a key for a role; the key is in this response only."""
    try:
        row, key = create_key(session, role=body.role, name=body.name)
    except KeyRequestError as error:
        raise HTTPException(422, f"role: {error}") from None
    return KeyOut(id=row.id, name=row.name, role=row.role, prefix=row.prefix, key=key)


@router.get("", response_model=list[KeyOut])
def list_keys(admin: AdminKey, session: SessionDep) -> list[KeyOut]:
    """Every key (without the secret)."""
    rows = session.scalars(select(db.ApiKey).order_by(db.ApiKey.id))
    return [KeyOut(id=r.id, name=r.name, role=r.role, prefix=r.prefix,
                   revoked=r.revoked_at is not None) for r in rows]


@router.delete("/{key_id}", status_code=204)
def revoke(key_id: int, admin: AdminKey, session: SessionDep) -> None:
    """Revoke a key: it stops working at once."""
    if not revoke_key(session, key_id):
        raise HTTPException(404, f"key_id: no active key {key_id}")
