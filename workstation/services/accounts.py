"""Accounts people run themselves: their preferences, invitations, and enterprises registering.

- **Preferences**: each user's language (``users.language``) and how they want each kind of email
  (``users.preferences["notifications"]``: ``immediately``, ``daily`` or ``off``). Requests for
  information, legal deadlines and opinions cannot be turned off. The notify worker leaves out
  the emails of a kind turned off (``wants_email``), and keeps those of a kind set to ``daily``
  as lines of the person's daily summary (``delivery_of``; ``services.summary``), mailed once a
  day. The coordinator's digest is a summary already: ``daily`` sends it as scheduled.
- **Invitations**: a coordinator invites an enterprise or an expert (and a CSV import invites each
  expert it creates): the account has no usable password (``auth.NO_PASSWORD``) and the invitee is
  mailed a link to choose one. The link is signed (itsdangerous, as the password reset's) over the
  user's id, works for ``account_link_days``, and only while the account has no password: once it
  is used, it and every other invitation link of the account stop working. ``users.invited_at``
  records that an invitation was mailed, so a re-imported file invites nobody twice.
- **Registration**: an enterprise signs up on ``/register`` (``unverified``), confirms its email
  by a mailed link (``pending``), and a coordinator approves or refuses it (``approved`` /
  ``refused``, mailed in its language and audited). Only an approved enterprise submits cases
  (``submission_refusal``); accounts made any other way are approved from the start.

Every email here goes through the outbox (``account.mail``) to the notify worker, which claims
and sends it once, and builds the links when it sends (a link is a credential: it is never stored).
"""

from __future__ import annotations

import re
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workstation.config import Config
from workstation.evidence import StoredFile
from workstation.i18n import N_, Message
from workstation.services.audit import audit
from workstation.services.auth import (
    NO_PASSWORD,
    UserError,
    check_new_password,
    check_organisation_code,
    create_user,
    find_user,
    hash_password,
    normalise_email,
)
from workstation.services.models import Registration, User, utcnow
from workstation.services.outbox import enqueue
from workstation.vocabulary import RIGHT_TYPES

# --- preferences --------------------------------------------------------------------------

#: The kinds of email a user chooses for, in the order pages list them.
OPTIONAL_KINDS = ("case_updates", "notices", "digest")
#: Kinds that cannot be turned off: the enterprise must answer, act before the law's deadline, or
#: read what it asked for.
MANDATORY_KINDS = ("requests_for_information", "legal_deadlines", "opinions")
NOTIFICATION_KINDS = OPTIONAL_KINDS + MANDATORY_KINDS
DELIVERIES = ("immediately", "daily", "off")
DEFAULT_DELIVERY = "immediately"
NAME_MAX = User.__table__.c.name.type.length
LANGUAGE_CHOICES = ("zh", "en")

CANNOT_BE_OFF = N_("%(kind)s cannot be turned off.")
ALWAYS_AT_ONCE = N_("%(kind)s is always mailed as it happens.")


class PreferenceError(ValueError):
    """Preferences that cannot be set: ``errors`` is ``{field: [message, ...]}``."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def notification_settings(user: User) -> dict[str, str]:
    """How ``user`` wants each kind of email (the default for what they have not chosen)."""
    stored = (user.preferences or {}).get("notifications") or {}
    return {kind: stored[kind] if stored.get(kind) in DELIVERIES else DEFAULT_DELIVERY for kind in NOTIFICATION_KINDS}


def check_preferences(body: Any) -> dict[str, Any]:
    """The changes asked for (``name``, ``language``, ``notifications``: each optional), checked;
    PreferenceError naming each field at fault. ``off`` for a mandatory kind is refused."""
    if not isinstance(body, dict):
        raise PreferenceError({"_request": [Message("The body must be a JSON object.")]})
    errors: dict[str, list[str]] = {}
    for key in body.keys() - {"name", "language", "notifications"}:
        errors[str(key)] = [Message("Unknown field.")]
    changes: dict[str, Any] = {}
    if "name" in body:
        name = body["name"]
        if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
            errors["name"] = [Message("A name of 1 to %(max)d characters.", max=NAME_MAX)]
        else:
            changes["name"] = name.strip()
    if "language" in body:
        if body["language"] not in LANGUAGE_CHOICES:
            errors["language"] = [Message("One of %(choices)s.", choices=", ".join(LANGUAGE_CHOICES))]
        else:
            changes["language"] = body["language"]
    if "notifications" in body:
        asked = body["notifications"]
        if not isinstance(asked, dict):
            errors["notifications"] = [Message("An object of {kind: delivery}.")]
        else:
            problems = []
            for kind, delivery in asked.items():
                if kind not in NOTIFICATION_KINDS:
                    problems.append(Message("%(kind)s: not a kind of email; one of %(kinds)s.", kind=kind,
                                            kinds=", ".join(NOTIFICATION_KINDS)))  # fmt: skip
                elif delivery not in DELIVERIES:
                    problems.append(Message("%(kind)s: one of %(choices)s.", kind=kind, choices=", ".join(DELIVERIES)))
                elif delivery == "off" and kind in MANDATORY_KINDS:
                    problems.append(Message(CANNOT_BE_OFF, kind=kind))
                elif delivery == "daily" and kind in MANDATORY_KINDS:
                    # (an answer due, a legal deadline, an opinion: not kept back for the evening)
                    problems.append(Message(ALWAYS_AT_ONCE, kind=kind))
            if problems:
                errors["notifications"] = problems
            else:
                changes["notifications"] = dict(asked)
    if errors:
        raise PreferenceError(errors)
    return changes


def set_preferences(user: User, changes: dict[str, Any]) -> None:
    """Apply ``check_preferences``' changes; kinds not named keep their setting."""
    if "name" in changes:
        user.name = changes["name"]
    if "language" in changes:
        user.language = changes["language"]
    if "notifications" in changes:
        settings = {**notification_settings(user), **changes["notifications"]}
        # (a new dict: the JSON column sees the change only when it is given a new value)
        user.preferences = {**(user.preferences or {}), "notifications": settings}


#: The kind of each email template the notify worker sends about cases (see ``email_kind``).
_TEMPLATE_KINDS = {
    "expert_case_assigned": "case_updates",
    "enterprise_case_assigned": "case_updates",
    "trainee_shadow_attached": "case_updates",
    "coordinator_no_expert": "case_updates",
    "expert_info_provided": "case_updates",
    "enterprise_case_accepted": "case_updates",
    "enterprise_case_declined": "case_updates",
    "case_closed": "case_updates",
    "case_withdrawn": "case_updates",
    "case_reopened": "case_updates",
    "expert_case_reassigned": "case_updates",
    "case_marked_difficult": "case_updates",
    "panel_dissolved": "case_updates",
    # ("panel_convened" is not here: a member must know at once, whatever they chose)
    "enterprise_info_requested": "requests_for_information",
    "enterprise_opinion_issued": "opinions",
    "lookalike_notice": "notices",
    "repeat_respondent_notice": "notices",
    "coordinator_digest": "digest",
    "referral_notice": "notices",
    "trainee_draft_submitted": "case_updates",
    "trainee_draft_reviewed": "case_updates",
}
#: The emails no preference governs, and why: each is the point of an action its recipient took or
#: needs at once (tests/test_status_mail.py: every template is in one of the two).
ALWAYS_SENT = {
    "invitation": "an account's own mail",
    "confirm_email": "an account's own mail",
    "registration_approved": "an account's own mail",
    "registration_refused": "an account's own mail",
    "already_registered": "an account's own mail",
    "password_reset": "an account's own mail",
    "enterprise_case_by_mail": "the answer to a case sent by mail",
    "case_message": "the conversation itself: a message on the case",
    "panel_convened": "a panel member must know at once",
    "daily_summary": "the summary is the preference",
}


def email_kind(template: str, extra: dict[str, Any]) -> str | None:
    """The preference that governs an email (None: one nobody can turn off, such as an invitation).
    A deadline notice is a legal deadline unless it is a service level's."""
    if template == "deadline_notice":
        notice = extra.get("notice") or {}
        return "notices" if notice.get("kind") == "sla" else "legal_deadlines"
    return _TEMPLATE_KINDS.get(template)


#: The kinds whose emails a daily summary gathers (the digest is a summary of its own).
GATHERED_KINDS = ("case_updates", "notices")


def delivery_of(recipient: User, template: str, extra: dict[str, Any]) -> str:
    """How ``recipient`` gets this email: ``immediately``, ``daily`` (a line of their daily
    summary) or ``off``. What cannot be turned off always goes at once."""
    kind = email_kind(template, extra)
    if kind is None or kind in MANDATORY_KINDS:
        return "immediately"
    delivery = notification_settings(recipient)[kind]
    return "immediately" if delivery == "daily" and kind not in GATHERED_KINDS else delivery


def wants_email(recipient: User, template: str, extra: dict[str, Any]) -> bool:
    """Whether ``recipient`` is mailed this email (at once or in a summary): not when they turned
    its kind off."""
    return delivery_of(recipient, template, extra) != "off"


# --- account emails ---------------------------------------------------------------------------

ACCOUNT_MAIL = "account.mail"
#: What each ``account.mail`` event may ask for: its email template.
ACCOUNT_MAILS = ("invitation", "confirm_email", "registration_approved", "registration_refused", "already_registered")
#: Where the links in the emails lead (the web layer's routes; the worker builds the links).
INVITATION_PATH = "/invitation/"
CONFIRM_PATH = "/register/confirm/"


class AccountMailError(ValueError):
    """An ``account.mail`` event that can never be sent (the worker dead-letters it)."""


def _mail(session: Session, user: User, mail: str) -> None:
    enqueue(session, ACCOUNT_MAIL, {"user_id": user.id, "mail": mail})


def _serializer(config: Config, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(config.secret_key, salt=salt)


def account_emails(session: Session, config: Config, payload: dict[str, Any]) -> list[tuple[User, str, dict]]:
    """The email an ``account.mail`` event sends: (recipient, template, context), or none when it
    has nothing left to say (an invitation already accepted, an email already confirmed)."""
    user_id, mail = payload.get("user_id"), payload.get("mail")
    if mail not in ACCOUNT_MAILS:
        raise AccountMailError(f"account.mail names no known email: {mail!r}")
    user = session.get(User, user_id) if isinstance(user_id, int) and not isinstance(user_id, bool) else None
    if user is None:
        raise AccountMailError("account.mail names no existing user")
    days = config.account_link_days
    if mail == "invitation":
        if not may_accept_invitation(user):
            return []
        link = config.base_url + INVITATION_PATH + invitation_token(config, user)
        return [(user, "invitation", {"link": link, "days": days})]
    if mail == "confirm_email":
        if user.approval != "unverified":
            return []
        link = config.base_url + CONFIRM_PATH + confirmation_token(config, user)
        return [(user, "confirm_email", {"link": link, "days": days})]
    registration = session.scalar(select(Registration).where(Registration.user_id == user.id))
    return [(user, mail, {"registration": registration, "login": config.base_url + "/login"})]


# --- invitations ------------------------------------------------------------------------------

INVITABLE_ROLES = ("enterprise", "expert")
_INVITATION_SALT = "invitation"


def may_accept_invitation(user: User | None) -> bool:
    """An invitation link works for an active account that has no password yet."""
    return user is not None and user.is_active and user.password_hash == NO_PASSWORD


def invitation_due(user: User) -> bool:
    """Whether an import should invite ``user``: never invited, and still without a password."""
    return may_accept_invitation(user) and user.invited_at is None


def invite(session: Session, user: User, actor_id: int | None, via: str) -> None:
    """Mail ``user`` an invitation (again, if one was mailed before), audited as ``user_invited``."""
    again = user.invited_at is not None
    user.invited_at = utcnow()
    _mail(session, user, "invitation")
    detail = {"role": user.role, "language": user.language, "via": via, "again": again}
    audit(session, actor_id, "user_invited", user, **detail)


def invite_new_user(
    session: Session,
    actor: User,
    email: str,
    role: str,
    name: str,
    language: str,
    organisation: str = "",
    credit_code: str | None = None,
    right_types: list[str] | None = None,
) -> User:
    """A new enterprise or expert account without a password, and its invitation; UserError naming
    the field at fault."""
    if role not in INVITABLE_ROLES:
        raise UserError(Message("Invite an enterprise or an expert."), "role")
    if language not in LANGUAGE_CHOICES:
        raise UserError(Message("One of %(choices)s.", choices=", ".join(LANGUAGE_CHOICES)), "language")
    if role == "expert" and not right_types:
        raise UserError(Message("Choose at least one right type."), "right_types")
    if right_types and set(right_types) - set(RIGHT_TYPES):
        raise UserError(Message("Choose at least one right type."), "right_types")
    user = create_user(
        session,
        email,
        None,
        role,
        name=name.strip(),
        language=language,
        organisation=organisation,
        credit_code=credit_code or None,
        right_types=right_types if role == "expert" else None,
    )
    invite(session, user, actor.id, "page")
    return user


def pending_invitations(session: Session) -> list[User]:
    """Accounts invited that have not chosen a password yet, the latest invited first."""
    query = select(User).where(User.invited_at.is_not(None), User.password_hash == NO_PASSWORD, User.is_active)
    return list(session.scalars(query.order_by(User.invited_at.desc(), User.id.desc())))


def invitation_token(config: Config, user: User) -> str:
    return _serializer(config, _INVITATION_SALT).dumps({"user": user.id})


def user_for_invitation_token(session: Session, config: Config, token: str) -> User | None:
    """The user an invitation link was made for, while it is unexpired and the account has no
    password yet (so it works once)."""
    user = _user_for_token(session, config, _INVITATION_SALT, token)
    return user if may_accept_invitation(user) else None


def accept_invitation(session: Session, user: User, password: str) -> None:
    """Set the first password from an invitation link (audited as ``invitation_accepted``)."""
    try:
        check_new_password(password)
    except UserError as err:
        raise UserError(err.args[0], "new_password") from None
    user.password_hash = hash_password(password)
    audit(session, user, "invitation_accepted", user)


def _user_for_token(session: Session, config: Config, salt: str, token: str) -> User | None:
    try:
        claims = _serializer(config, salt).loads(token, max_age=config.account_link_days * 86400)
    except BadSignature:  # also SignatureExpired
        return None
    user_id = claims.get("user") if isinstance(claims, dict) else None
    return session.get(User, user_id) if isinstance(user_id, int) else None


# --- enterprises registering themselves ---------------------------------------------------------

_CONFIRM_SALT = "email-confirmation"
PHONE = re.compile(r"[0-9+\-() ]{5,40}")
CONTACT_MAX = Registration.__table__.c.contact_person.type.length

#: Why an enterprise cannot submit a case yet, by its approval.
NOT_YET = {
    "unverified": N_(
        "Please confirm your email address first with the link we mailed you. Your registration then "
        "waits for a coordinator's approval; you can submit cases once it is approved."
    ),
    "pending": N_(
        "Your registration is waiting for a coordinator's approval. You can submit cases once it is approved."
    ),
    "refused": N_("Your registration was refused, so this account cannot submit cases."),
}


def submission_refusal(user: User) -> str | None:
    """Why ``user`` (an enterprise) may not submit a case, or None when it may."""
    if user.approval == "approved":
        return None
    return Message(NOT_YET.get(user.approval, NOT_YET["pending"]))


class RegistrationError(ValueError):
    """A sign-up refused: ``errors`` is ``{field: [message, ...]}``."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def check_registration(session: Session, form: dict[str, str]) -> dict[str, str]:
    """The sign-up form's fields, cleaned; RegistrationError naming every field at fault. The
    credit code must be one (GB 32100-2015) and no other enterprise's."""
    errors: dict[str, list[str]] = {}
    fields = ("company", "credit_code", "contact_person", "email", "phone")
    data = {key: (form.get(key) or "").strip() for key in fields}
    data["credit_code"] = data["credit_code"].upper()
    data["email"] = normalise_email(data["email"])
    data["password"] = form.get("password") or ""
    data["language"] = form.get("language") or "zh"
    required = Message("Missing data for required field.")
    if not data["company"] or len(data["company"]) > NAME_MAX:
        errors["company"] = [Message("A name of 1 to %(max)d characters.", max=NAME_MAX)]
    if not data["credit_code"]:
        errors["credit_code"] = [required]
    else:
        try:
            check_organisation_code(session, data["credit_code"], "enterprise")
        except UserError as err:
            errors["credit_code"] = [err.args[0]]
    if not data["contact_person"] or len(data["contact_person"]) > CONTACT_MAX:
        errors["contact_person"] = [Message("A name of 1 to %(max)d characters.", max=CONTACT_MAX)]
    if "@" not in data["email"] or len(data["email"]) > 254:
        errors["email"] = [Message("Not a valid email address.")]
    if not PHONE.fullmatch(data["phone"]):
        errors["phone"] = [Message("A telephone number: digits, spaces, +, - and brackets.")]
    try:
        check_new_password(data["password"])
    except UserError as err:
        errors["password"] = [err.args[0]]
    if data["language"] not in LANGUAGE_CHOICES:
        errors["language"] = [Message("One of %(choices)s.", choices=", ".join(LANGUAGE_CHOICES))]
    if errors:
        raise RegistrationError(errors)
    return data


def register_enterprise(session: Session, data: dict[str, str], licence: StoredFile | None) -> User | None:
    """Create the enterprise from ``check_registration``'s data, unverified, and mail it the link
    that confirms its email. None when the email has an account already: the page answers the same
    (it must not tell which emails have accounts) and the owner of the address is told by email."""
    existing = find_user(session, data["email"])
    if existing is not None:
        if existing.is_active:
            _mail(session, existing, "already_registered")
        return None
    user = create_user(
        session,
        data["email"],
        data["password"],
        "enterprise",
        name=data["company"],
        language=data["language"],
        organisation=data["company"],
        credit_code=data["credit_code"],
    )
    user.approval = "unverified"
    registration = Registration(user_id=user.id, contact_person=data["contact_person"], phone=data["phone"])
    if licence is not None:
        registration.licence_sha256 = licence.sha256
        registration.licence_filename = licence.filename
        registration.licence_content_type = licence.content_type
        registration.licence_size = licence.size
    session.add(registration)
    audit(session, user, "enterprise_registered", user, credit_code=user.credit_code)
    _mail(session, user, "confirm_email")
    return user


def resend_confirmation(session: Session, user: User) -> bool:
    """Mail the confirmation link again (an unverified enterprise asking for it); False if there is
    nothing to confirm."""
    if user.approval != "unverified":
        return False
    _mail(session, user, "confirm_email")
    return True


def confirmation_token(config: Config, user: User) -> str:
    return _serializer(config, _CONFIRM_SALT).dumps({"user": user.id, "email": user.email})


def user_for_confirmation_token(session: Session, config: Config, token: str) -> User | None:
    """The enterprise a confirmation link was made for, while unexpired and still unconfirmed (so
    it works once) and for the email it was sent to."""
    try:
        claims = _serializer(config, _CONFIRM_SALT).loads(token, max_age=config.account_link_days * 86400)
    except BadSignature:
        return None
    user_id = claims.get("user") if isinstance(claims, dict) else None
    user = session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or user.approval != "unverified" or claims.get("email") != user.email:
        return None
    return user


def confirm_email(session: Session, user: User) -> None:
    """The enterprise's email is its own: the registration now waits for a coordinator."""
    user.approval = "pending"
    registration = registration_of(session, user)
    if registration is not None:
        registration.verified_at = utcnow()


def registration_of(session: Session, user: User) -> Registration | None:
    return session.scalar(select(Registration).where(Registration.user_id == user.id))


def pending_registrations(session: Session) -> list[Registration]:
    """Registrations whose email is confirmed and that wait for a decision, oldest first."""
    query = (
        select(Registration)
        .join(User, User.id == Registration.user_id)
        .where(User.approval == "pending")
        .order_by(Registration.verified_at, Registration.id)
    )
    return list(session.scalars(query))


def unconfirmed_count(session: Session) -> int:
    """Enterprises signed up that have not confirmed their email yet."""
    return session.scalar(select(func.count()).select_from(User).where(User.approval == "unverified")) or 0


REASON_MAX = 2000


def decide_registration(
    session: Session, coordinator: User, registration: Registration, approve: bool, reason: str = ""
) -> None:
    """Approve or refuse a pending registration (a reason is required to refuse); mailed to the
    enterprise in its language and audited (``registration_approved`` / ``registration_refused``).
    UserError when it is not pending (decided already, or its email not confirmed)."""
    user = registration.user
    if user.approval != "pending":
        raise UserError(Message("This registration is not waiting for a decision."))
    reason = reason.strip()
    if not approve and not reason:
        raise UserError(Message("Please give a reason."), "reason")
    if len(reason) > REASON_MAX:
        raise UserError(Message("At most %(max)d characters.", max=REASON_MAX), "reason")
    user.approval = "approved" if approve else "refused"
    registration.decided_at = utcnow()
    registration.decided_by = coordinator.id
    registration.reason = "" if approve else reason
    action = "registration_approved" if approve else "registration_refused"
    detail = {"credit_code": user.credit_code, **({} if approve else {"reason": reason})}
    audit(session, coordinator, action, user, **detail)
    _mail(session, user, action)
