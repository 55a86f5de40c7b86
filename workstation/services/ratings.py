"""The enterprise's rating of a closed case (one per case), from the case page and the API."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate
from sqlalchemy.orm import Session

from workstation import lifecycle
from workstation.i18n import N_
from workstation.services.models import Case, Rating, User

MAX_COMMENT = 2_000

NOT_THE_ENTERPRISE = N_("Only the enterprise that submitted the case rates it.")
NOT_CLOSED = N_("A case is rated once it is closed.")
RATED_ALREADY = N_("The case has been rated already.")


class RatingInputSchema(Schema):
    """A rating as the API takes it (``POST /api/v1/cases/<reference>/rating``)."""

    class Meta:
        unknown = RAISE

    score = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))
    comment = fields.String(load_default="", validate=validate.Length(max=MAX_COMMENT))


class RatingSchema(Schema):
    score = fields.Integer()
    comment = fields.String()
    created_at = fields.DateTime()


rating_input_schema = RatingInputSchema()
rating_schema = RatingSchema()


class RatingError(Exception):
    """A rating not taken: ``errors`` as the API shows them; ``conflict``: the case's state (not
    the input) refuses it."""

    def __init__(self, errors: dict[str, list[str]], conflict: bool = False) -> None:
        super().__init__(errors)
        self.errors, self.conflict = errors, conflict


def rating_refusal(case: Case, user: User) -> str | None:
    """Why ``user``, who may see ``case``, cannot rate it now; None when they can."""
    if case.enterprise_id != user.id:
        return NOT_THE_ENTERPRISE
    if case.status != lifecycle.CLOSED:
        return NOT_CLOSED
    if case.rating is not None:
        return RATED_ALREADY
    return None


def rate_case(session: Session, case: Case, user: User, asked: Any) -> Rating:
    """Rate ``case`` (loaded ``for_update``: two ratings at once are one and a refusal) as
    ``user`` with ``asked`` (``RatingInputSchema``'s fields); RatingError if it cannot be."""
    if why := rating_refusal(case, user):
        raise RatingError({"_request": [why]}, conflict=why != NOT_THE_ENTERPRISE)
    if not isinstance(asked, dict):
        raise RatingError({"_request": ["The body must be a JSON object."]})
    try:
        given = rating_input_schema.load(asked)
    except ValidationError as err:
        raise RatingError(err.normalized_messages()) from None
    rating = Rating(case_id=case.id, score=given["score"], comment=given["comment"].strip(), rated_by=user.id)
    session.add(rating)
    case.rating = rating
    session.flush()
    return rating
