"""API authentication: JWT pairs (obtain, refresh, revoke) and named API tokens."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, mixins, serializers, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework_simplejwt import exceptions as jwt_exceptions
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenRefreshView, TokenViewBase

from access import selectors, services
from access.api import schema as _schema  # noqa: F401  (registers the authenticators with drf-spectacular)
from access.api import serializers as access_serializers
from access.audit import services as audit
from access.authentication import REALM, blacklist_refresh_tokens, plain_failure
from access.models import ApiToken, User
from access.tokens import selectors as token_selectors
from access.tokens import services as token_services
from portal.api.permissions import SignedIn


def _invalid(error: DjangoValidationError) -> serializers.ValidationError:
    """A service's validation error as the API's 400, field by field."""
    return serializers.ValidationError(error.message_dict if hasattr(error, "error_dict") else error.messages)


def refused(error: Exception) -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed(f"The token is not valid: {error.args[0]}.", code="token_not_valid")


class SignInLocked(exceptions.APIException):
    """429 for an account or address locked by failed sign-ins; ``Retry-After`` is when it is open for sure."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = services.ApiSignInRefusal.LOCKED.value

    def __init__(self, message: str) -> None:
        super().__init__(message, self.default_code)
        self.wait = settings.SIGN_IN_LOCKOUT_MINUTES * 60  # read by DRF's exception handler


def sign_in_refusal(refused: services.ApiSignInRefused) -> exceptions.APIException:
    """A refused password sign-in as the API's error: 429 locked, 403 not allowed, 401 otherwise."""
    code = refused.refusal.value
    if refused.refusal is services.ApiSignInRefusal.LOCKED:
        return SignInLocked(refused.message)
    if refused.refusal is services.ApiSignInRefusal.PASSWORD_NOT_ALLOWED:
        return exceptions.PermissionDenied(refused.message, code=code)
    return exceptions.AuthenticationFailed(refused.message, code=code)


class JwtObtainView(generics.GenericAPIView[Any]):
    """Issue an access + refresh pair: to the signed-in browser session (with its CSRF token),
    or to a local account's username and password (and two-factor code, if it has MFA).

    Throttled per caller; password attempts share the sign-in form's lockout
    (:func:`access.services.api_sign_in`). A superuser gets a pair only from its session.
    """

    # Only the session or a password: an API token or a JWT must not mint a fresh, wider pair.
    authentication_classes = [SessionAuthentication]
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "api_sign_in"
    serializer_class = access_serializers.JwtObtainSerializer

    def get_authenticate_header(self, request: Request) -> str:
        return REALM

    @extend_schema(responses=access_serializers.JwtPairSerializer)
    def post(self, request: Request) -> Response:
        if isinstance(request.user, User):
            refresh = RefreshToken.for_user(request.user)
            _issued(request.user, "session", refresh)
            return Response({"access": str(refresh.access_token), "refresh": str(refresh)})
        credentials = self.get_serializer(data=request.data)
        credentials.is_valid(raise_exception=True)
        try:
            signed_in = services.api_sign_in(request=request._request, **credentials.validated_data)
        except services.ApiSignInRefused as refused:
            raise sign_in_refusal(refused) from None
        refresh = RefreshToken.for_user(signed_in.user)
        _issued(signed_in.user, "password", refresh, second_factor=signed_in.second_factor)
        return Response({"refresh": str(refresh), "access": str(refresh.access_token)})


def _issued(user: User, via: str, refresh: RefreshToken, *, second_factor: str = "") -> None:
    """Audit a new pair: who, how they proved it (with which second factor), and the refresh token's id
    (to match a later revocation)."""
    proof = {"via": via, "second_factor": second_factor} if second_factor else {"via": via}
    audit.record(audit.JWT_ISSUED, user, actor=user, after=proof, jti=refresh[jwt_settings.JTI_CLAIM])


class JwtRefreshView(TokenRefreshView):
    """Exchange a refresh token for a new pair. The old refresh token is revoked: reusing it is refused."""

    @extend_schema(responses=access_serializers.JwtPairSerializer)
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return super().post(request, *args, **kwargs)
        except jwt_exceptions.AuthenticationFailed as failed:
            raise plain_failure(failed) from failed
        except User.DoesNotExist as gone:  # the token's person was deleted
            raise exceptions.AuthenticationFailed(
                "No active account found for the given token.", code="no_active_account"
            ) from gone


class JwtRevokeView(TokenViewBase):
    """Sign an API client out: revoke the given refresh token, or with ``all`` every one of its owner's.

    Holding the refresh token is the proof; revoking one already revoked changes nothing.
    """

    serializer_class = access_serializers.JwtRevokeSerializer

    @extend_schema(responses=access_serializers.JwtRevokedSerializer)
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        raw = body.validated_data["refresh"]
        try:
            # Signature and expiry first; the blacklist check is skipped so a repeat is harmless.
            token_backend.decode(raw, verify=True)
            refresh = RefreshToken(raw, verify=False)
            refresh.verify_token_type()
        except (TokenError, TokenBackendError) as error:
            raise refused(error) from error
        already = BlacklistedToken.objects.filter(token__jti=refresh[jwt_settings.JTI_CLAIM]).exists()
        refresh.blacklist()
        revoked = 0 if already else 1
        user_id = refresh.payload.get(jwt_settings.USER_ID_CLAIM)
        user = User.objects.filter(pk=user_id).first() if user_id is not None else None
        if body.validated_data["all"] and user is not None:
            revoked += blacklist_refresh_tokens(user=user)
        if revoked and user is not None:
            audit.record(
                audit.JWT_REVOKED,
                user,
                actor=user,
                after={"revoked": revoked, "all": body.validated_data["all"]},
                jti=refresh[jwt_settings.JTI_CLAIM],
            )
        return Response({"revoked": revoked})


class ApiTokenViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[ApiToken],
):
    """Your named API tokens for automation: list, create (the secret is in the answer, once), revoke (DELETE)."""

    queryset = ApiToken.objects.all()
    serializer_class = access_serializers.ApiTokenSerializer
    # A token is its owner's: the list is scoped to the owner, and the services decide the rest.
    permission_classes = [SignedIn]

    def get_queryset(self) -> QuerySet[ApiToken]:
        assert isinstance(self.request.user, User)  # noqa: S101 (SignedIn let only users through)
        return token_selectors.api_token_list(user=self.request.user)

    @extend_schema(
        request=access_serializers.ApiTokenCreateSerializer, responses=access_serializers.ApiTokenCreatedSerializer
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = access_serializers.ApiTokenCreateSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        assert isinstance(request.user, User)  # noqa: S101
        try:
            created = token_services.api_token_create(actor=request.user, **body.validated_data)
        except DjangoValidationError as error:
            raise _invalid(error) from error
        answer = access_serializers.ApiTokenSerializer(created.token).data
        response = Response({**answer, "token": created.secret}, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(request=None, responses=access_serializers.ApiTokenSerializer)
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Revoke the token now (the row stays, as a record); callers using it get 401 from then on.

        Revoking a revoked token answers the same again, so a retried DELETE is harmless. As on the token's
        page, its owner revokes it and so does whoever may revoke access on its team; to anyone else it does
        not exist (404), which the service decides.
        """
        assert isinstance(request.user, User)  # noqa: S101
        token_id = str(kwargs.get(self.lookup_url_kwarg or self.lookup_field, ""))
        if not token_id.isdigit():
            raise exceptions.NotFound("No API token matches the given query.")
        token = token_services.api_token_revoke(actor=request.user, token_id=int(token_id))
        return Response(access_serializers.ApiTokenSerializer(token).data)


class MeView(generics.GenericAPIView[Any]):
    """Who you are to the portal: your account, your teams and the roles a token of yours may carry on each."""

    permission_classes = [SignedIn]
    serializer_class = access_serializers.MeSerializer

    def get(self, request: Request, **kwargs: Any) -> Response:
        assert isinstance(request.user, User)  # noqa: S101 (SignedIn let only users through)
        return Response(self.get_serializer(selectors.me(user=request.user)).data)
